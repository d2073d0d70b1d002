#include "llm/ollama_backend.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "llm/stream_filter.h"

namespace a4ps::llm {
namespace {

[[noreturn]] void malformed(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::kUnavailable, where + ": malformed response: " + what);
}

double nanos_to_ms(const nlohmann::json& event, const char* key) {
  return event.contains(key) && event[key].is_number() ? event[key].get<double>() / 1e6 : 0.0;
}

}  // namespace

std::string default_ollama_url() {
  const char* host = std::getenv("OLLAMA_HOST");
  if (host == nullptr || *host == '\0') return "http://127.0.0.1:11434";
  const std::string value = host;
  return value.starts_with("http://") || value.starts_with("https://") ? value : "http://" + value;
}

namespace {

HttpOptions named_ollama(HttpOptions http, const std::string& model) {
  if (http.server_name.empty()) http.server_name = "Ollama";
  if (http.unreachable_fix.empty()) {
    http.unreachable_fix = "start it (`ollama serve`, then `ollama pull " + model +
                           "`), set OLLAMA_HOST to where it runs, or point the model's [models] "
                           "entry at a local GGUF file (for memory alone, [memory] embedder = "
                           "\"lexical\" needs no model)";
  }
  return http;
}

}  // namespace

OllamaBackend::OllamaBackend(std::string base_url, std::string model,
                             std::optional<std::chrono::seconds> keep_alive, RemoteOptions options)
    : http_(std::make_unique<HttpClient>(base_url, named_ollama(options.http, model))),
      model_(std::move(model)),
      keep_alive_(keep_alive),
      options_(options) {}

OllamaBackend::~OllamaBackend() = default;

nlohmann::json OllamaBackend::chat_body(const ChatRequest& r) const {
  nlohmann::json messages = nlohmann::json::array();
  for (const ChatMessage& m : r.messages) {
    messages.push_back({{"role", role_name(m.role)}, {"content", m.content}});
  }
  nlohmann::json options = {{"temperature", r.sampling.temperature},
                            {"top_k", r.sampling.top_k},
                            {"top_p", r.sampling.top_p},
                            {"min_p", r.sampling.min_p},
                            {"repeat_penalty", r.sampling.repeat_penalty},
                            {"repeat_last_n", r.sampling.repeat_last_n},
                            {"seed", r.sampling.seed},
                            {"num_predict", r.max_tokens}};
  if (!r.stop.empty()) options["stop"] = r.stop;
  nlohmann::json body = {
      {"model", model_}, {"messages", messages}, {"stream", true}, {"options", options}};
  if (r.json_schema) body["format"] = *r.json_schema;
  if (keep_alive_) body["keep_alive"] = keep_alive_->count();
  return body;
}

void OllamaBackend::check_reachable() const {
  HttpClient(http_->base_url(), short_timeouts(named_ollama(options_.http, model_)))
      .get("/api/version");
}

HttpResponse OllamaBackend::post_with_retries(const std::string& path, const std::string& body,
                                              const std::function<bool(std::string_view)>& on_chunk,
                                              bool* cancelled) {
  auto backoff = options_.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt >= options_.max_retries;
    bool received = false;
    const auto tracking = [&](std::string_view chunk) {
      received = true;
      return on_chunk(chunk);
    };
    try {
      HttpResponse response = http_->post_json_streaming(path, body, tracking, cancelled);
      const bool retryable = response.status == 429 || response.status >= 500;
      if (!retryable || last || received) return response;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable || last || received) throw;
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

ChatResult OllamaBackend::chat(const ChatRequest& request) {
  if (request.messages.empty()) throw_invalid_argument("chat: the conversation is empty");
  if (!request.adapters.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "LoRA adapters apply to local GGUF models only; this model is served by " +
                    http_->base_url());
  }
  const std::string where = http_->base_url() + "/api/chat (model " + model_ + ")";
  ChatResult result;
  StreamFilter filter(request.stop);
  std::string pending;  // an NDJSON line not yet complete
  bool done = false;
  const auto on_line = [&](std::string_view line) {
    const auto event = nlohmann::json::parse(line, nullptr, false);
    if (!event.is_object()) malformed(where, "a line is not JSON");
    if (event.contains("error")) {
      throw Error(ErrorCode::kUnavailable, where + ": " + event["error"].dump());
    }
    if (event.contains("message") && event["message"].contains("content") &&
        event["message"]["content"].is_string()) {
      const std::string content = event["message"]["content"].get<std::string>();
      if (!content.empty()) {
        const std::string piece = filter.push(content);
        if (!piece.empty() && request.on_token) request.on_token(piece);
      }
    }
    if (event.value("done", false)) {
      done = true;
      result.stop_reason = event.value("done_reason", "stop") == "length"
                               ? StopReason::kMaxTokens
                               : StopReason::kEndOfGeneration;
      result.timings.n_prompt_tokens = event.value("prompt_eval_count", 0);
      result.timings.n_generated_tokens = event.value("eval_count", 0);
      result.timings.prompt_ms = nanos_to_ms(event, "prompt_eval_duration");
      result.timings.decode_ms = nanos_to_ms(event, "eval_duration");
    }
  };
  const auto on_chunk = [&](std::string_view chunk) {
    pending.append(chunk);
    for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (!line.empty()) on_line(line);
    }
    return !request.cancel.stop_requested() && !filter.stopped();
  };
  bool cancelled = false;
  const HttpResponse response =
      post_with_retries("/api/chat", chat_body(request).dump(), on_chunk, &cancelled);
  if (cancelled) {
    result.stop_reason = filter.stopped() ? StopReason::kStopString : StopReason::kCancelled;
  } else {
    if (response.status != 200) throw_http_status(where, response);
    if (!pending.empty()) on_line(pending);
    if (!done) malformed(where, "the stream ended before \"done\": true (truncated)");
  }
  const std::string rest = filter.finish();
  if (!rest.empty() && request.on_token) request.on_token(rest);
  if (filter.stopped()) result.stop_reason = StopReason::kStopString;
  result.text = filter.text();
  return result;
}

std::vector<float> OllamaBackend::embed(std::string_view text) {
  const std::string where = http_->base_url() + "/api/embed (model " + model_ + ")";
  nlohmann::json body = {{"model", model_}, {"input", text}};
  if (keep_alive_) body["keep_alive"] = keep_alive_->count();
  std::string received;
  bool cancelled = false;
  const HttpResponse response = post_with_retries(
      "/api/embed", body.dump(),
      [&](std::string_view chunk) {
        received.append(chunk);
        return true;
      },
      &cancelled);
  if (response.status != 200) throw_http_status(where, response);
  const auto parsed = nlohmann::json::parse(received, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("embeddings") || !parsed["embeddings"].is_array() ||
      parsed["embeddings"].empty() || !parsed["embeddings"][0].is_array()) {
    malformed(where, "no embeddings[0]");
  }
  std::vector<float> embedding;
  for (const auto& v : parsed["embeddings"][0]) {
    if (!v.is_number()) malformed(where, "an embedding value is not a number");
    embedding.push_back(v.get<float>());
  }
  normalize(embedding);
  embedding_size_ = static_cast<int32_t>(embedding.size());
  return embedding;
}

int32_t OllamaBackend::count_tokens(std::string_view text) const {
  return static_cast<int32_t>((text.size() + 3) / 4);
}

}  // namespace a4ps::llm
