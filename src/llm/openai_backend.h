// llm/openai_backend: a model served by an OpenAI-compatible server (llama-server, vLLM,
// LM Studio, Ollama's compatibility API): /v1/chat/completions (streamed as Server-Sent Events
// when the request has on_token) and /v1/embeddings. Retries with exponential backoff on
// 429/5xx and on connection failures, but never after a token has been streamed.
// Not thread-safe: one thread at a time drives an instance.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "llm/backend.h"
#include "llm/http_client.h"

namespace a4ps::llm {

struct RemoteOptions {
  HttpOptions http;
  int max_retries = 3;
  std::chrono::milliseconds initial_backoff{250};
};

class OpenAIBackend final : public Backend {
 public:
  // `base_url`: http://host:port (without /v1). Throws kInvalidArgument for a bad URL; does
  // not contact the server.
  OpenAIBackend(std::string base_url, std::string model, RemoteOptions options = {});
  ~OpenAIBackend() override;

  // Throws a4ps::Error: kUnavailable (refused, timed out, 5xx after retries, a malformed or
  // truncated response, naming the server and what was wrong), kInvalidArgument (a 4xx with
  // the server's message), kResourceExhausted (429 after retries).
  ChatResult chat(const ChatRequest& request) override;
  // L2-normalised, like every backend's.
  std::vector<float> embed(std::string_view text) override;
  // Known after the first embed(); 0 before.
  int32_t embedding_size() const override { return embedding_size_; }
  // The API has no tokenizer: an estimate of 4 bytes per token.
  int32_t count_tokens(std::string_view text) const override;
  // The API does not say: 0 (unknown).
  int32_t context_size() const override { return 0; }
  // GET /v1/models with short timeouts; any HTTP answer counts as reachable.
  void check_reachable() const override;

 private:
  std::vector<float> embed_fitted(std::string_view text, int depth);
  HttpResponse post_with_retries(const std::string& path, const std::string& body);
  ChatResult chat_streaming(const ChatRequest& request, const std::string& body);

  std::unique_ptr<HttpClient> http_;
  std::string model_;
  RemoteOptions options_;
  int32_t embedding_size_ = 0;
};

// The /v1/chat/completions body OpenAIBackend sends for `request` (also used by the benchmark
// to send a bare client the identical request).
nlohmann::json openai_chat_body(const std::string& model, const ChatRequest& request, bool stream);

// Shared with the Ollama backend: turns a failed HTTP status into an a4ps::Error naming the
// server, the path and the server's own message when its body has one.
[[noreturn]] void throw_http_status(const std::string& where, const HttpResponse& response);

// L2-normalises in place.
void normalize(std::vector<float>& v);

}  // namespace a4ps::llm
