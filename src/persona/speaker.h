// persona/speaker: how a workflow node makes a persona speak. Every call goes to the persona's
// model through the ModelManager, with the codex's system prompt, sampling, token limit and
// optional LoRA adapter; it is journaled (NodeContext::once), so a resumed step replays it
// instead of calling the model again; its tokens stream into the run's events.
//
// Structured decisions (JSON) are grammar-constrained by a schema. If the output is still
// unusable, the call is retried once with another seed, and then a documented safe default is
// taken; the default and why are journaled (kind "fallback").
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "graph/node_context.h"
#include "llm/json_schema.h"
#include "llm/model_manager.h"
#include "persona/codex.h"

namespace a4ps::persona {

struct SpeakOptions {
  std::string part;               // labels the streamed tokens, e.g. "candidate d1.2"
  std::uint32_t seed_offset = 0;  // added to the persona's seed: distinct candidates
  std::int32_t max_tokens = 0;    // 0: the persona's max_tokens
};

struct Decision {
  nlohmann::json value;  // valid against the schema
  bool used_default = false;
  std::string problem;  // why the default was taken
};

// Thread-safe: nodes of one step may speak at once (the ModelManager queues them).
class Speaker {
 public:
  // `context_tokens`: the context a persona's model has ([inference] context_size); prompts
  // are fitted into it (see fit_prompt).
  Speaker(llm::ModelManager& models, const Codex& codex, int context_tokens)
      : models_(models), codex_(codex), context_tokens_(context_tokens) {}

  // The persona's reply to `prompt`, as text.
  std::string speak(graph::NodeContext& ctx, const std::string& persona, const std::string& prompt,
                    const SpeakOptions& options = {});

  // A JSON decision valid against `schema`; never throws for bad model output.
  Decision decide(graph::NodeContext& ctx, const std::string& persona, const std::string& prompt,
                  const nlohmann::json& schema, const nlohmann::json& safe_default,
                  const SpeakOptions& options = {});

  // The same decision outside any run (e.g. `a4ps tools forge`): not journaled, not streamed.
  Decision decide_directly(const std::string& persona, const std::string& prompt,
                           const nlohmann::json& schema, const nlohmann::json& safe_default,
                           const SpeakOptions& options = {});

  const Codex& codex() const { return codex_; }

 private:
  llm::ChatRequest request_for(const Persona& p, const std::string& prompt,
                               const SpeakOptions& options, const nlohmann::json* schema) const;
  Decision decide_with(const Persona& p, const nlohmann::json& schema,
                       const nlohmann::json& safe_default, const SpeakOptions& options,
                       const std::function<nlohmann::json(const SpeakOptions&)>& call_model,
                       const std::function<void(const std::string&)>& on_default);
  nlohmann::json call(graph::NodeContext& ctx, const Persona& p, const std::string& prompt,
                      const SpeakOptions& options, const nlohmann::json* schema, bool stream);

  llm::ModelManager& models_;
  const Codex& codex_;
  const int context_tokens_;
};

// `prompt` cut to at most `max_chars` by removing its middle (marked "[...]"): the task at
// the start and the instructions at the end stay; the oldest material in between goes first.
std::string fit_prompt(const std::string& prompt, size_t max_chars);

}  // namespace a4ps::persona
