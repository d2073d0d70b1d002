// Test helper: the a4ps::Error code a call throws (kInternal when it throws none), and its
// message through `message` when asked.
#pragma once

#include <functional>
#include <string>

#include "core/error.h"

namespace a4ps::testing {

inline ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  return ErrorCode::kInternal;
}

}  // namespace a4ps::testing
