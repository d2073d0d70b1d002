#include "core/error.h"

namespace a4ps {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kResourceExhausted:
      return "ResourceExhausted";
    case ErrorCode::kDeadlineExceeded:
      return "DeadlineExceeded";
    case ErrorCode::kFailedPrecondition:
      return "FailedPrecondition";
    case ErrorCode::kDataLoss:
      return "DataLoss";
    case ErrorCode::kPermissionDenied:
      return "PermissionDenied";
    case ErrorCode::kCancelled:
      return "Cancelled";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

int exit_code_for(ErrorCode code) {
  // Stable and documented in docs/cli.md; scripts may branch on them.
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 2;
    case ErrorCode::kNotFound:
      return 3;
    case ErrorCode::kUnavailable:
      return 4;
    case ErrorCode::kResourceExhausted:
      return 5;
    case ErrorCode::kDeadlineExceeded:
      return 6;
    case ErrorCode::kFailedPrecondition:
      return 7;
    case ErrorCode::kDataLoss:
      return 8;
    case ErrorCode::kPermissionDenied:
      return 9;
    case ErrorCode::kCancelled:
      return 10;
    case ErrorCode::kInternal:
      return 11;
  }
  return 1;
}

void throw_invalid_argument(std::string message) {
  throw Error(ErrorCode::kInvalidArgument, std::move(message));
}

void throw_not_found(std::string message) {
  throw Error(ErrorCode::kNotFound, std::move(message));
}

}  // namespace a4ps
