// Test support: a stand-in for Ollama, which cannot be installed here. It follows Ollama's
// published API reference (docs/api.md of the Ollama project) for the calls A4PS makes:
//   POST /api/chat   {model, messages, stream (default true), format, options, keep_alive}
//                    streamed as NDJSON message chunks, then a final object with done: true,
//                    done_reason ("stop" | "length") and the *_count / *_duration figures;
//   POST /api/embed  {model, input} -> {model, embeddings: [[...]]} (unit-length vectors);
//   errors           HTTP status with {"error": "..."}; an unknown model is 404
//                    {"error": "model \"NAME\" not found, try pulling it first"}.
// Its answers are deterministic: the assistant echoes the last user message word by word.
#pragma once

#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace a4ps::testing {

class OllamaContractServer {
 public:
  enum class Fault { kNone, kTruncatedStream, kErrorMidStream };

  explicit OllamaContractServer(std::vector<std::string> models);
  ~OllamaContractServer();

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_fault(Fault fault);
  // Every request body received, oldest first.
  std::vector<nlohmann::json> requests() const;

 private:
  void handle_chat(const httplib::Request& req, httplib::Response& res);
  void handle_embed(const httplib::Request& req, httplib::Response& res);
  // Parses and checks the model; on failure fills `res` with Ollama's error shape.
  bool accept(const httplib::Request& req, httplib::Response& res, nlohmann::json& body);

  std::vector<std::string> models_;
  int port_;
  httplib::Server server_;
  std::thread thread_;
  mutable std::mutex mu_;
  Fault fault_ = Fault::kNone;        // guarded by mu_
  std::vector<nlohmann::json> seen_;  // guarded by mu_
};

}  // namespace a4ps::testing
