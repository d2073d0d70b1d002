// A Backend test double that answers from a script: a function of the request. It follows the
// Backend contract (streams the text through on_token, honours cancel, reports stop reasons)
// and counts its calls, so tests can script exact persona outputs without a model.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "llm/backend.h"

namespace a4ps::testing {

class ScriptedBackend final : public llm::Backend {
 public:
  using Script = std::function<std::string(const llm::ChatRequest&)>;
  explicit ScriptedBackend(Script script, std::atomic<int>* calls = nullptr)
      : script_(std::move(script)), calls_(calls) {}

  llm::ChatResult chat(const llm::ChatRequest& request) override;
  std::vector<float> embed(std::string_view text) override;
  int32_t embedding_size() const override { return 8; }
  int32_t count_tokens(std::string_view text) const override {
    return static_cast<int32_t>(text.size() / 4 + 1);
  }
  int32_t context_size() const override { return 8192; }

 private:
  Script script_;
  std::atomic<int>* calls_;
};

// The persona a request is for, from its system prompt ("You are BRICK" -> "BRICK"); "" if none.
std::string persona_of(const llm::ChatRequest& request);
// The request's last user message.
std::string prompt_of(const llm::ChatRequest& request);

}  // namespace a4ps::testing
