// core/error: the one error type of A4PS. Every failure that can reach a user is an
// a4ps::Error with a code; the code maps once to a CLI exit code (and later to an HTTP
// status). Messages name the thing, the value and what was expected, e.g.
//   config.toml: [budget] memory_mb = -3: must be a positive integer
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace a4ps {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong (bad value, malformed file)
  kNotFound,            // a named thing does not exist
  kUnavailable,         // a dependency cannot be reached or is not built in
  kResourceExhausted,   // a budget, context or size limit is exceeded
  kDeadlineExceeded,    // a deadline passed before the work finished
  kFailedPrecondition,  // the system is not in a state that allows the call
  kDataLoss,            // stored data is corrupt or truncated
  kPermissionDenied,    // the caller may not do this
  kCancelled,           // the work was cancelled on request
  kInternal,            // a bug: an invariant did not hold
};

// Short stable name of a code, e.g. "InvalidArgument".
std::string_view error_code_name(ErrorCode code);

// Process exit status for a CLI command that failed with `code`. 0 is never returned;
// 1 is left for failures that are not an a4ps::Error.
int exit_code_for(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message)
      : std::runtime_error(std::move(message)), code_(code) {}

  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Shorthands that read as a sentence at the throw site.
[[noreturn]] void throw_invalid_argument(std::string message);
[[noreturn]] void throw_not_found(std::string message);

}  // namespace a4ps
