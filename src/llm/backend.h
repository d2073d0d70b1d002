// llm/backend: the interface every inference backend implements (embedded llama.cpp now;
// OpenAI-compatible and Ollama HTTP backends later), and the request/result types they share.
// Nothing here knows about llama.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps::llm {

enum class Role { kSystem, kUser, kAssistant };

std::string_view role_name(Role role);

// A LoRA adapter (GGUF) applied to a local model for one request, and its strength.
struct LoraAdapter {
  std::string path;
  float scale = 1.0f;
  bool operator==(const LoraAdapter&) const = default;
};

struct ChatMessage {
  Role role = Role::kUser;
  std::string content;
};

// Sampling settings. temperature 0 means greedy decoding; otherwise the same seed, model,
// prompt and settings give the same text.
struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.1f;
  int32_t repeat_last_n = 64;
  float frequency_penalty = 0.0f;  // OpenAI's: -2..2, 0 off; over the repeat_last_n window
  float presence_penalty = 0.0f;   // OpenAI's: -2..2, 0 off; over the repeat_last_n window
  uint32_t seed = 0;
};

// Receives generated text as it is produced: whole UTF-8 characters, never a part of a stop
// string. The pieces concatenate to ChatResult::text.
using TokenCallback = std::function<void(std::string_view piece)>;

struct ChatRequest {
  std::vector<ChatMessage> messages;
  SamplingParams sampling;
  int32_t max_tokens = 256;
  // Applied to the loaded model for this request (local models only); empty: none.
  std::vector<LoraAdapter> adapters;
  // Generation stops before the first occurrence of any of these; it is not in the text.
  std::vector<std::string> stop;
  // When set, the output is constrained to JSON valid against this schema.
  std::optional<nlohmann::json> json_schema;
  TokenCallback on_token;
  // kIgnore bans end-of-generation tokens, so exactly max_tokens are produced unless a stop
  // string or cancellation ends it (llama-server's ignore_eos; benchmarks use it).
  enum class EndOfGeneration { kStop, kIgnore } end_of_generation = EndOfGeneration::kStop;
  // Checked between tokens and during prompt evaluation.
  std::stop_token cancel;
};

enum class StopReason { kEndOfGeneration, kStopString, kMaxTokens, kCancelled };

std::string_view stop_reason_name(StopReason reason);

struct Timings {
  double prompt_ms = 0;
  double decode_ms = 0;
  int32_t n_prompt_tokens = 0;
  int32_t n_cached_tokens = 0;  // prompt tokens restored from the prefix cache
  int32_t n_generated_tokens = 0;

  double prompt_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

struct ChatResult {
  std::string text;
  StopReason stop_reason = StopReason::kEndOfGeneration;
  Timings timings;
};

// One loaded model. Not thread-safe: a backend instance is driven by one thread at a time
// (the ModelManager serialises access).
class Backend {
 public:
  virtual ~Backend() = default;

  // Generates an assistant reply to `request.messages`. Throws a4ps::Error:
  // kInvalidArgument (bad schema, empty conversation), kResourceExhausted (prompt longer than
  // the context), kInternal (the engine failed). Cancellation is not an error: the result says
  // kCancelled and holds the text produced so far.
  virtual ChatResult chat(const ChatRequest& request) = 0;

  // An L2-normalised embedding of `text`, of embedding_size() floats, whatever its length (a
  // backend fits a text longer than its context: the embedded llama.cpp averages windows, an
  // OpenAI-compatible server that refuses it as too long gets it in halves, averaged; Ollama
  // truncates). Throws kFailedPrecondition if the model was not loaded for embeddings.
  virtual std::vector<float> embed(std::string_view text) = 0;
  virtual int32_t embedding_size() const = 0;

  // Tokens `text` takes in this model's vocabulary (without special tokens added).
  virtual int32_t count_tokens(std::string_view text) const = 0;

  // Tokens the context holds.
  virtual int32_t context_size() const = 0;

  // Throws kUnavailable, naming the server and what to do, when the server that answers for
  // the model does not respond: one short request, asked before a run starts so that a server
  // that is down stops nothing midway. A model in this process has nothing to check.
  // Thread-safe (it uses a connection of its own).
  virtual void check_reachable() const {}
};

}  // namespace a4ps::llm
