// core/clock: wall-clock time as stored in state.db (Unix milliseconds).
#pragma once

#include <chrono>
#include <cstdint>

namespace a4ps {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace a4ps
