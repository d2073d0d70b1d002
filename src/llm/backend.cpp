#include "llm/backend.h"

namespace a4ps::llm {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
  }
  return "user";
}

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kEndOfGeneration:
      return "end_of_generation";
    case StopReason::kStopString:
      return "stop_string";
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

double Timings::prompt_tokens_per_second() const {
  return prompt_ms > 0 ? n_prompt_tokens * 1000.0 / prompt_ms : 0.0;
}

double Timings::decode_tokens_per_second() const {
  return decode_ms > 0 ? n_generated_tokens * 1000.0 / decode_ms : 0.0;
}

}  // namespace a4ps::llm
