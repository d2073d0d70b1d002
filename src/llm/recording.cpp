#include "llm/recording.h"

#include <cmath>

#include "core/error.h"
#include "core/hash.h"

namespace a4ps::llm {
namespace {

// Six decimals, so a hand-written script's 0.8 matches the recorded 0.8f.
double decimal(float value) {
  return std::round(static_cast<double>(value) * 1e6) / 1e6;
}

nlohmann::json sampling_to_json(const SamplingParams& s) {
  return {{"temperature", decimal(s.temperature)},
          {"top_k", s.top_k},
          {"top_p", decimal(s.top_p)},
          {"min_p", decimal(s.min_p)},
          {"repeat_penalty", decimal(s.repeat_penalty)},
          {"repeat_last_n", s.repeat_last_n},
          {"seed", s.seed}};
}

nlohmann::json result_to_json(const ChatResult& r) {
  return {{"text", r.text},
          {"stop_reason", stop_reason_name(r.stop_reason)},
          {"prompt_tokens", r.timings.n_prompt_tokens},
          {"generated_tokens", r.timings.n_generated_tokens}};
}

StopReason stop_reason_from(const std::string& name) {
  for (const StopReason r : {StopReason::kEndOfGeneration, StopReason::kStopString,
                             StopReason::kMaxTokens, StopReason::kCancelled}) {
    if (stop_reason_name(r) == name) return r;
  }
  throw Error(ErrorCode::kDataLoss, "unknown stop_reason \"" + name + "\"");
}

nlohmann::json embed_request_to_json(const std::string& model, std::string_view text) {
  return {{"model", model}, {"kind", "embed"}, {"text", text}};
}

std::string last_message_preview(const ChatRequest& request) {
  if (request.messages.empty()) return "";
  std::string text = request.messages.back().content.substr(0, 60);
  return text + (request.messages.back().content.size() > 60 ? "..." : "");
}

nlohmann::json adapters_to_json(const std::vector<LoraAdapter>& adapters) {
  nlohmann::json out = nlohmann::json::array();
  for (const LoraAdapter& a : adapters)
    out.push_back({{"path", a.path}, {"scale", decimal(a.scale)}});
  return out;
}

}  // namespace

nlohmann::json request_to_json(const std::string& model, const ChatRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const ChatMessage& m : request.messages) {
    messages.push_back({{"role", role_name(m.role)}, {"content", m.content}});
  }
  return {{"model", model},
          {"kind", "chat"},
          {"messages", messages},
          {"sampling", sampling_to_json(request.sampling)},
          {"max_tokens", request.max_tokens},
          {"stop", request.stop},
          {"json_schema", request.json_schema ? *request.json_schema : nlohmann::json()},
          {"adapters", adapters_to_json(request.adapters)},
          {"ignore_end_of_generation",
           request.end_of_generation == ChatRequest::EndOfGeneration::kIgnore}};
}

std::string request_hash(const nlohmann::json& recorded_request) {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  return hex64(fnv1a(recorded_request.dump()));
}

RecordingBackend::RecordingBackend(std::unique_ptr<Backend> inner, std::string model,
                                   const std::filesystem::path& path)
    : inner_(std::move(inner)), model_(std::move(model)), out_(path, std::ios::app) {
  if (!out_) throw Error(ErrorCode::kUnavailable, path.string() + ": cannot open for recording");
}

void RecordingBackend::append(const nlohmann::json& line) {
  std::lock_guard<std::mutex> lock(mu_);
  // Model output may hold bytes that are not UTF-8 (sampled at random); they become U+FFFD.
  out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out_.flush();
}

ChatResult RecordingBackend::chat(const ChatRequest& request) {
  ChatResult result = inner_->chat(request);
  const nlohmann::json recorded = request_to_json(model_, request);
  append({{"hash", request_hash(recorded)},
          {"request", recorded},
          {"response", result_to_json(result)},
          {"context_size", inner_->context_size()}});
  return result;
}

std::vector<float> RecordingBackend::embed(std::string_view text) {
  std::vector<float> embedding = inner_->embed(text);
  const nlohmann::json recorded = embed_request_to_json(model_, text);
  append({{"hash", request_hash(recorded)},
          {"request", recorded},
          {"response", {{"embedding", embedding}}}});
  return embedding;
}

ReplayBackend::ReplayBackend(std::string model, const std::filesystem::path& path)
    : model_(std::move(model)) {
  std::ifstream in(path);
  if (!in) throw_not_found(path.string() + ": no such replay file");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    try {
      const nlohmann::json entry = nlohmann::json::parse(line);
      const nlohmann::json& request = entry.at("request");
      if (request.at("model").get<std::string>() != model_) continue;
      // The key is recomputed, so hand-written scripts need no hash.
      const std::string hash = request_hash(request);
      const nlohmann::json& response = entry.at("response");
      if (request.value("kind", "chat") == "embed") {
        embeddings_[hash] = response.at("embedding").get<std::vector<float>>();
        embedding_size_ = static_cast<int32_t>(embeddings_[hash].size());
        continue;
      }
      ChatResult result;
      result.text = response.at("text").get<std::string>();
      result.stop_reason = stop_reason_from(response.value("stop_reason", "end_of_generation"));
      result.timings.n_prompt_tokens = response.value("prompt_tokens", 0);
      result.timings.n_generated_tokens = response.value("generated_tokens", 0);
      context_size_ = std::max(context_size_, entry.value("context_size", 0));
      chats_[hash] = std::move(result);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kDataLoss, path.string() + ":" + std::to_string(number) +
                                            ": not a recorded request and response (" + e.what() +
                                            ")");
    }
  }
}

ChatResult ReplayBackend::chat(const ChatRequest& request) {
  const nlohmann::json recorded = request_to_json(model_, request);
  const std::string hash = request_hash(recorded);
  const auto it = chats_.find(hash);
  if (it == chats_.end()) {
    throw_not_found("replay: nothing recorded for request " + hash + " (model " + model_ +
                    ", last message \"" + last_message_preview(request) + "\")");
  }
  if (request.on_token && !it->second.text.empty()) request.on_token(it->second.text);
  return it->second;
}

std::vector<float> ReplayBackend::embed(std::string_view text) {
  const std::string hash = request_hash(embed_request_to_json(model_, text));
  const auto it = embeddings_.find(hash);
  if (it == embeddings_.end()) {
    throw_not_found("replay: no embedding recorded for request " + hash + " (model " + model_ +
                    ")");
  }
  return it->second;
}

int32_t ReplayBackend::count_tokens(std::string_view text) const {
  return static_cast<int32_t>((text.size() + 3) / 4);
}

}  // namespace a4ps::llm
