// llm/recording: record and replay of inference. RecordingBackend wraps any backend and
// appends every request with its response (model reference, parameters, seed) to a JSONL file;
// ReplayBackend answers from such a file by request hash, so any run is reproducible and tests
// can script exact persona outputs. The line format is documented in docs/formats/replay.md.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "llm/backend.h"

namespace a4ps::llm {

// The request as recorded: everything that determines the response, nothing else (no
// callbacks, no cancel token).
nlohmann::json request_to_json(const std::string& model, const ChatRequest& request);

// Hex hash of request_to_json's canonical dump: the replay key.
std::string request_hash(const nlohmann::json& recorded_request);

// Thread-safe: lines are appended whole under a mutex and flushed.
class RecordingBackend final : public Backend {
 public:
  // Appends to `path` (created if missing). Throws kUnavailable if it cannot be opened.
  RecordingBackend(std::unique_ptr<Backend> inner, std::string model,
                   const std::filesystem::path& path);

  ChatResult chat(const ChatRequest& request) override;
  std::vector<float> embed(std::string_view text) override;
  int32_t embedding_size() const override { return inner_->embedding_size(); }
  int32_t count_tokens(std::string_view text) const override { return inner_->count_tokens(text); }
  int32_t context_size() const override { return inner_->context_size(); }
  void check_reachable() const override { inner_->check_reachable(); }

 private:
  void append(const nlohmann::json& line);

  std::unique_ptr<Backend> inner_;
  const std::string model_;
  std::mutex mu_;
  std::ofstream out_;  // guarded by mu_
};

// Thread-safe after construction (read-only).
class ReplayBackend final : public Backend {
 public:
  // Loads every line of `path` whose model is `model`. Throws kNotFound (no file) or kDataLoss
  // (a line that is not a recording, with its number).
  ReplayBackend(std::string model, const std::filesystem::path& path);

  // The recorded response; on_token receives its text as one piece. Throws kNotFound naming
  // the request (hash, model, last message) when nothing was recorded for it.
  ChatResult chat(const ChatRequest& request) override;
  std::vector<float> embed(std::string_view text) override;
  int32_t embedding_size() const override { return embedding_size_; }
  // Not recorded: an estimate of 4 bytes per token.
  int32_t count_tokens(std::string_view text) const override;
  int32_t context_size() const override { return context_size_; }
  size_t recorded_responses() const { return chats_.size() + embeddings_.size(); }

 private:
  std::string model_;
  std::map<std::string, ChatResult> chats_;
  std::map<std::string, std::vector<float>> embeddings_;
  int32_t embedding_size_ = 0;
  int32_t context_size_ = 0;
};

}  // namespace a4ps::llm
