#include "support/scripted_backend.h"

namespace a4ps::testing {

llm::ChatResult ScriptedBackend::chat(const llm::ChatRequest& request) {
  if (calls_ != nullptr) ++*calls_;
  llm::ChatResult result;
  if (request.cancel.stop_requested()) {
    result.stop_reason = llm::StopReason::kCancelled;
    return result;
  }
  result.text = script_(request);
  // Cancelled while "generating" (the script may cancel): cut short, as a real backend is.
  if (request.cancel.stop_requested()) {
    result.text = result.text.substr(0, result.text.size() / 2);
    result.stop_reason = llm::StopReason::kCancelled;
    return result;
  }
  if (request.on_token) request.on_token(result.text);
  result.timings.n_generated_tokens = static_cast<int32_t>(result.text.size() / 4 + 1);
  return result;
}

std::vector<float> ScriptedBackend::embed(std::string_view text) {
  std::vector<float> v(8, 0.0f);
  for (size_t i = 0; i < text.size(); ++i) v[i % 8] += static_cast<float>(text[i]) / 128.0f;
  return v;
}

std::string persona_of(const llm::ChatRequest& request) {
  for (const llm::ChatMessage& m : request.messages) {
    if (m.role != llm::Role::kSystem) continue;
    for (const char* name : {"ALFRED", "BABS", "BRICK", "ROBIN"}) {
      if (m.content.find(std::string("You are ") + name) != std::string::npos) return name;
    }
  }
  return "";
}

std::string prompt_of(const llm::ChatRequest& request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role == llm::Role::kUser) return it->content;
  }
  return "";
}

}  // namespace a4ps::testing
