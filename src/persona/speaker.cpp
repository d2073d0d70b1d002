#include "persona/speaker.h"

#include <algorithm>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/text.h"

namespace a4ps::persona {
namespace {

constexpr std::int32_t kDecisionMaxTokens = 192;

using nlohmann::json;

// Empty when `text` is JSON valid against `schema`, else what is wrong with it.
std::string unusable(const std::string& text, const llm::JsonSchema& schema, json& parsed) {
  parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return "not complete JSON: " + text.substr(0, 120);
  std::string why;
  return schema.validate(parsed, &why) ? std::string() : why;
}

// Characters of user prompt that fit beside the system prompt and the answer: a conservative
// 2 characters per token, since text in other scripts (or a random model's) tokenizes densely.
size_t prompt_budget_chars(const Persona& p, std::int32_t max_tokens, int context_tokens) {
  const auto system_tokens = static_cast<std::int64_t>(p.full_system_prompt().size() / 2);
  const std::int64_t room = context_tokens - max_tokens - system_tokens - 64;
  return static_cast<size_t>(std::max<std::int64_t>(room * 2, 400));
}

// The record of a turn whose call ran past its deadline: what was said until then.
json deadline_turn(const Persona& p, const std::string& said, const std::string& problem) {
  return json{{"persona", p.name}, {"text", said}, {"stop", "deadline"}, {"problem", problem}};
}

}  // namespace

std::string fit_prompt(const std::string& prompt, size_t max_chars) {
  return cut_middle(prompt, max_chars);
}

llm::ChatRequest Speaker::request_for(const Persona& p, const std::string& prompt,
                                      const SpeakOptions& options, const json* schema) const {
  llm::ChatRequest request;
  request.sampling = p.sampling;
  request.sampling.seed = p.sampling.seed + options.seed_offset;
  request.max_tokens = options.max_tokens > 0 ? options.max_tokens : p.max_tokens;
  request.messages = {
      {llm::Role::kSystem, p.full_system_prompt()},
      {llm::Role::kUser, fit_prompt(valid_utf8(prompt),
                                    prompt_budget_chars(p, request.max_tokens, context_tokens_))}};
  if (p.adapter) request.adapters.push_back(*p.adapter);
  if (schema != nullptr) request.json_schema = *schema;
  return request;
}

json Speaker::call(graph::NodeContext& ctx, const Persona& p, const std::string& prompt,
                   const SpeakOptions& options, const json* schema, bool stream) {
  return ctx.once("model", [&] {
    llm::ChatRequest request = request_for(p, prompt, options, schema);
    request.cancel = ctx.cancel();
    // Kept with the turn for the Oracle and the datasets (docs/formats/workflow.md): the user
    // message as sent, and which system prompt it was sent under.
    const std::string input = request.messages.back().content;
    const std::string system_sha256 = sha256_hex(request.messages.front().content);
    ctx.set_part(options.part);
    std::string said;  // what the model produced, kept if the call runs past its deadline
    request.on_token = [&ctx, &said, stream](std::string_view piece) {
      said += piece;
      if (stream) ctx.emit_token(valid_utf8(piece));
    };
    llm::ChatResult result;
    try {
      result = models_.chat(p.model, std::move(request));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kDeadlineExceeded) throw;
      // Journaled like any result: a resumed step must not walk into the same trap again.
      log::warn(p.name + "'s turn (" + ctx.node() + "): " + e.what());
      return deadline_turn(p, valid_utf8(said), e.what());
    }
    // A call cut short by cancellation is not a result: thrown before once() journals it, so
    // that the resumed step makes the call again instead of replaying half an answer.
    if (result.stop_reason == llm::StopReason::kCancelled) {
      throw Error(ErrorCode::kCancelled, p.name + "'s turn was cancelled");
    }
    return json{{"persona", p.name},
                {"text", valid_utf8(result.text)},
                {"stop", llm::stop_reason_name(result.stop_reason)},
                {"prompt_tokens", result.timings.n_prompt_tokens},
                {"generated_tokens", result.timings.n_generated_tokens},
                {"prompt_ms", result.timings.prompt_ms},
                {"decode_ms", result.timings.decode_ms},
                {"input", input},
                {"system_sha256", system_sha256}};
  });
}

std::string Speaker::speak(graph::NodeContext& ctx, const std::string& persona,
                           const std::string& prompt, const SpeakOptions& options) {
  const Persona& p = codex_.persona(persona);
  const json turn = call(ctx, p, prompt, options, nullptr, /*stream=*/true);
  return turn.value("text", "");
}

Decision Speaker::decide_with(const Persona& p, const json& schema, const json& safe_default,
                              const SpeakOptions& options,
                              const std::function<json(const SpeakOptions&)>& call_model,
                              const std::function<void(const std::string&)>& on_default) {
  const llm::JsonSchema validator = llm::JsonSchema::create(schema);
  std::string problem;
  for (std::uint32_t attempt = 0; attempt < 2; ++attempt) {
    SpeakOptions retry = options;
    retry.seed_offset += attempt * 7919;  // the retry samples differently
    // A decision is a small object; room for it even when the persona's turns are short.
    if (retry.max_tokens == 0) retry.max_tokens = std::max(p.max_tokens, kDecisionMaxTokens);
    const json turn = call_model(retry);
    if (turn.value("stop", "") == "deadline") {
      // Another attempt would most likely spend the whole deadline again.
      problem = turn.value("problem", "the call ran past its deadline");
      break;
    }
    json parsed;
    problem = unusable(turn.value("text", ""), validator, parsed);
    if (problem.empty()) return {parsed, false, {}};
  }
  on_default(problem);
  return {safe_default, true, problem};
}

Decision Speaker::decide(graph::NodeContext& ctx, const std::string& persona,
                         const std::string& prompt, const json& schema, const json& safe_default,
                         const SpeakOptions& options) {
  const Persona& p = codex_.persona(persona);
  return decide_with(
      p, schema, safe_default, options,
      [&](const SpeakOptions& o) { return call(ctx, p, prompt, o, &schema, /*stream=*/false); },
      [&](const std::string& problem) {
        ctx.once("fallback", [&] {
          return json{{"persona", p.name}, {"problem", problem}, {"default", safe_default}};
        });
      });
}

Decision Speaker::decide_directly(const std::string& persona, const std::string& prompt,
                                  const json& schema, const json& safe_default,
                                  const SpeakOptions& options) {
  const Persona& p = codex_.persona(persona);
  return decide_with(
      p, schema, safe_default, options,
      [&](const SpeakOptions& o) {
        try {
          const llm::ChatResult result = models_.chat(p.model, request_for(p, prompt, o, &schema));
          return json{{"text", valid_utf8(result.text)}};
        } catch (const Error& e) {
          if (e.code() != ErrorCode::kDeadlineExceeded) throw;
          return deadline_turn(p, "", e.what());
        }
      },
      [](const std::string&) {});
}

}  // namespace a4ps::persona
