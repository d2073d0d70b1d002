#include "llm/openai_backend.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "llm/stream_filter.h"

namespace a4ps::llm {
namespace {

bool retryable(int status) {
  return status == 429 || status >= 500;
}

}  // namespace

nlohmann::json openai_chat_body(const std::string& model, const ChatRequest& r, bool stream) {
  nlohmann::json messages = nlohmann::json::array();
  for (const ChatMessage& m : r.messages) {
    messages.push_back({{"role", role_name(m.role)}, {"content", m.content}});
  }
  nlohmann::json body = {{"model", model},
                         {"messages", messages},
                         {"stream", stream},
                         {"max_tokens", r.max_tokens},
                         {"temperature", r.sampling.temperature},
                         {"top_p", r.sampling.top_p},
                         {"seed", r.sampling.seed},
                         // llama-server and vLLM extensions; other servers ignore them.
                         {"top_k", r.sampling.top_k},
                         {"min_p", r.sampling.min_p},
                         {"repeat_penalty", r.sampling.repeat_penalty},
                         {"repeat_last_n", r.sampling.repeat_last_n}};
  if (!r.stop.empty()) body["stop"] = r.stop;
  if (r.end_of_generation == ChatRequest::EndOfGeneration::kIgnore) body["ignore_eos"] = true;
  if (r.json_schema) {
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "a4ps_output"}, {"schema", *r.json_schema}, {"strict", true}}}};
  }
  return body;
}

namespace {

StopReason stop_reason_from_finish(const nlohmann::json& finish) {
  if (finish.is_string() && finish.get<std::string>() == "length") return StopReason::kMaxTokens;
  return StopReason::kEndOfGeneration;
}

[[noreturn]] void malformed(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::kUnavailable, where + ": malformed response: " + what);
}

}  // namespace

void throw_http_status(const std::string& where, const HttpResponse& response) {
  std::string message = response.body.substr(0, 300);
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error")) {
    const auto& e = parsed["error"];
    message = e.is_object() ? e.value("message", e.dump()) : e.dump();
    if (e.is_string()) message = e.get<std::string>();
  }
  const std::string text =
      where + ": HTTP " + std::to_string(response.status) + (message.empty() ? "" : ": " + message);
  if (response.status == 429) throw Error(ErrorCode::kResourceExhausted, text);
  if (response.status == 404) throw Error(ErrorCode::kNotFound, text);
  if (response.status >= 400 && response.status < 500) throw_invalid_argument(text);
  throw Error(ErrorCode::kUnavailable, text);
}

void normalize(std::vector<float>& v) {
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(static_cast<double>(x) / norm);
  }
}

namespace {

HttpOptions named_openai(HttpOptions http) {
  if (http.server_name.empty()) http.server_name = "the OpenAI-compatible server";
  if (http.unreachable_fix.empty()) {
    http.unreachable_fix =
        "start it, or correct the URL in the model's [models] entry "
        "(openai:NAME@URL)";
  }
  return http;
}

}  // namespace

OpenAIBackend::OpenAIBackend(std::string base_url, std::string model, RemoteOptions options)
    : http_(std::make_unique<HttpClient>(base_url, named_openai(options.http))),
      model_(std::move(model)),
      options_(options) {}

OpenAIBackend::~OpenAIBackend() = default;

void OpenAIBackend::check_reachable() const {
  HttpClient(http_->base_url(), short_timeouts(named_openai(options_.http))).get("/v1/models");
}

namespace {

// llama-server refuses an input longer than its batch or context with these words.
bool refused_as_too_long(const HttpResponse& response) {
  return response.status >= 400 &&
         (response.body.find("too large") != std::string::npos ||
          response.body.find("larger than the max context") != std::string::npos);
}

// Where to cut `text` in two: the whitespace nearest its middle, else the middle of a
// character sequence.
size_t split_point(std::string_view text) {
  const size_t middle = text.size() / 2;
  const size_t space = text.find_first_of(" \n\t", middle);
  if (space != std::string_view::npos && space + 1 < text.size()) return space + 1;
  size_t at = middle;
  while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
  return at > 0 ? at : middle;
}

constexpr int kMaxSplitDepth = 10;  // 1,024 pieces: far past any server's batch

}  // namespace

HttpResponse OpenAIBackend::post_with_retries(const std::string& path, const std::string& body) {
  auto backoff = options_.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt >= options_.max_retries;
    try {
      HttpResponse response = http_->post_json(path, body);
      // A refusal of a too long input is an answer, not a fault worth another try.
      if (!retryable(response.status) || last || refused_as_too_long(response)) return response;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable || last) throw;
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

ChatResult OpenAIBackend::chat(const ChatRequest& request) {
  if (request.messages.empty()) throw_invalid_argument("chat: the conversation is empty");
  if (!request.adapters.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "LoRA adapters apply to local GGUF models only; this model is served by " +
                    http_->base_url());
  }
  const std::string where = http_->base_url() + "/v1/chat/completions (model " + model_ + ")";
  if (request.on_token) {
    return chat_streaming(request, openai_chat_body(model_, request, true).dump());
  }
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse response =
      post_with_retries("/v1/chat/completions", openai_chat_body(model_, request, false).dump());
  if (response.status != 200) throw_http_status(where, response);
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() ||
      parsed["choices"].empty()) {
    malformed(where, "no choices in \"" + response.body.substr(0, 120) + "\"");
  }
  const auto& choice = parsed["choices"][0];
  if (!choice.contains("message") || !choice["message"].contains("content") ||
      !choice["message"]["content"].is_string()) {
    malformed(where, "choices[0].message.content is missing");
  }
  ChatResult result;
  result.text = choice["message"]["content"].get<std::string>();
  result.stop_reason = stop_reason_from_finish(choice.value("finish_reason", nlohmann::json()));
  if (parsed.contains("usage") && parsed["usage"].is_object()) {
    result.timings.n_prompt_tokens = parsed["usage"].value("prompt_tokens", 0);
    result.timings.n_generated_tokens = parsed["usage"].value("completion_tokens", 0);
  }
  result.timings.decode_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

ChatResult OpenAIBackend::chat_streaming(const ChatRequest& request, const std::string& body) {
  const std::string where = http_->base_url() + "/v1/chat/completions (model " + model_ + ")";
  ChatResult result;
  StreamFilter filter(request.stop);
  std::string pending;  // bytes of a Server-Sent Events line not yet complete
  bool done = false;
  bool streamed = false;
  const auto start = std::chrono::steady_clock::now();
  const auto on_data = [&](std::string_view payload) {
    if (payload == "[DONE]") {
      done = true;
      return;
    }
    const auto event = nlohmann::json::parse(payload, nullptr, false);
    if (!event.is_object()) malformed(where, "an event is not JSON");
    if (event.contains("error")) throw_http_status(where, {500, std::string(payload)});
    if (!event.contains("choices") || !event["choices"].is_array() || event["choices"].empty()) {
      return;  // e.g. a usage-only event
    }
    const auto& choice = event["choices"][0];
    if (choice.contains("delta") && choice["delta"].contains("content") &&
        choice["delta"]["content"].is_string()) {
      const std::string piece = filter.push(choice["delta"]["content"].get<std::string>());
      ++result.timings.n_generated_tokens;
      if (!streamed)
        result.timings.prompt_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
      streamed = true;
      if (!piece.empty()) request.on_token(piece);
    }
    if (choice.contains("finish_reason") && !choice["finish_reason"].is_null()) {
      result.stop_reason = stop_reason_from_finish(choice["finish_reason"]);
    }
  };
  const auto on_chunk = [&](std::string_view chunk) {
    pending.append(chunk);
    for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.starts_with("data:")) {
        std::string_view payload = std::string_view(line).substr(5);
        while (!payload.empty() && payload.front() == ' ') payload.remove_prefix(1);
        on_data(payload);
      }
    }
    return !request.cancel.stop_requested() && !filter.stopped();
  };

  auto backoff = options_.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    bool cancelled = false;
    HttpResponse response;
    try {
      response = http_->post_json_streaming("/v1/chat/completions", body, on_chunk, &cancelled);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable || streamed || attempt >= options_.max_retries) {
        throw;
      }
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
      continue;
    }
    if (cancelled) {
      result.stop_reason = filter.stopped() ? StopReason::kStopString : StopReason::kCancelled;
      break;
    }
    if (retryable(response.status) && !streamed && attempt < options_.max_retries) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
      continue;
    }
    if (response.status != 200) throw_http_status(where, response);
    if (!done) malformed(where, "the stream ended before data: [DONE] (truncated)");
    break;
  }
  const std::string rest = filter.finish();
  if (!rest.empty()) request.on_token(rest);
  if (filter.stopped()) result.stop_reason = StopReason::kStopString;
  result.text = filter.text();
  result.timings.decode_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() -
      result.timings.prompt_ms;
  return result;
}

std::vector<float> OpenAIBackend::embed(std::string_view text) {
  return embed_fitted(text, 0);
}

// A text the server refuses as too long is embedded in halves, and its embedding is the mean
// of theirs weighted by their length (docs/formats/workflow.md, "Long material").
std::vector<float> OpenAIBackend::embed_fitted(std::string_view text, int depth) {
  const std::string where = http_->base_url() + "/v1/embeddings (model " + model_ + ")";
  const nlohmann::json body = {{"model", model_}, {"input", text}};
  const HttpResponse response = post_with_retries("/v1/embeddings", body.dump());
  if (refused_as_too_long(response) && depth < kMaxSplitDepth && text.size() > 1) {
    const size_t at = split_point(text);
    const std::vector<float> first = embed_fitted(text.substr(0, at), depth + 1);
    const std::vector<float> second = embed_fitted(text.substr(at), depth + 1);
    if (first.size() != second.size()) malformed(where, "two pieces of one text differ in size");
    std::vector<float> mean(first.size());
    const auto w1 = static_cast<float>(at);
    const auto w2 = static_cast<float>(text.size() - at);
    for (size_t i = 0; i < mean.size(); ++i) mean[i] = first[i] * w1 + second[i] * w2;
    normalize(mean);
    return mean;
  }
  if (response.status != 200) throw_http_status(where, response);
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("data") || !parsed["data"].is_array() ||
      parsed["data"].empty() || !parsed["data"][0].contains("embedding") ||
      !parsed["data"][0]["embedding"].is_array()) {
    malformed(where, "no data[0].embedding");
  }
  std::vector<float> embedding;
  for (const auto& v : parsed["data"][0]["embedding"]) {
    if (!v.is_number()) malformed(where, "an embedding value is not a number");
    embedding.push_back(v.get<float>());
  }
  normalize(embedding);
  embedding_size_ = static_cast<int32_t>(embedding.size());
  return embedding;
}

int32_t OpenAIBackend::count_tokens(std::string_view text) const {
  return static_cast<int32_t>((text.size() + 3) / 4);
}

}  // namespace a4ps::llm
