// llm/ollama_backend: a model served by Ollama's native API: /api/chat (NDJSON streaming) and
// /api/embed. Sends `keep_alive` as the budget policy says: 0 under "sequential" (Ollama then
// unloads the model after the call, the blueprint's behaviour), keep_alive_seconds otherwise.
// Not thread-safe: one thread at a time drives an instance.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "llm/backend.h"
#include "llm/http_client.h"
#include "llm/openai_backend.h"

namespace a4ps::llm {

// Where Ollama listens: $OLLAMA_HOST (Ollama's own variable; "host:port" or a URL), else
// http://127.0.0.1:11434.
std::string default_ollama_url();

class OllamaBackend final : public Backend {
 public:
  // `base_url`: http://host:port (Ollama's default is http://127.0.0.1:11434). `keep_alive`:
  // sent with every request when set (seconds; 0 unloads at once).
  OllamaBackend(std::string base_url, std::string model,
                std::optional<std::chrono::seconds> keep_alive, RemoteOptions options = {});
  ~OllamaBackend() override;

  // Throws a4ps::Error: kNotFound (Ollama does not have the model; its message says how to
  // pull it), kUnavailable (refused, 5xx after retries, a malformed or truncated stream),
  // kInvalidArgument (another 4xx, with Ollama's message).
  ChatResult chat(const ChatRequest& request) override;
  // L2-normalised.
  std::vector<float> embed(std::string_view text) override;
  int32_t embedding_size() const override { return embedding_size_; }
  // Ollama's API has no tokenizer: an estimate of 4 bytes per token.
  int32_t count_tokens(std::string_view text) const override;
  int32_t context_size() const override { return 0; }
  // GET /api/version with short timeouts; any HTTP answer counts as reachable.
  void check_reachable() const override;

 private:
  nlohmann::json chat_body(const ChatRequest& request) const;
  HttpResponse post_with_retries(const std::string& path, const std::string& body,
                                 const std::function<bool(std::string_view)>& on_chunk,
                                 bool* cancelled);

  std::unique_ptr<HttpClient> http_;
  std::string model_;
  std::optional<std::chrono::seconds> keep_alive_;
  RemoteOptions options_;
  int32_t embedding_size_ = 0;
};

}  // namespace a4ps::llm
