#include "support/ollama_contract.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "support/llama_server.h"

namespace a4ps::testing {
namespace {

void error_response(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// A value satisfying each required property of a flat object schema.
nlohmann::json answer_for_schema(const nlohmann::json& schema) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& name : schema.value("required", nlohmann::json::array())) {
    const std::string type = schema["properties"][name.get<std::string>()].value("type", "string");
    if (type == "boolean")
      out[name.get<std::string>()] = true;
    else if (type == "integer")
      out[name.get<std::string>()] = 1;
    else if (type == "number")
      out[name.get<std::string>()] = 0.5;
    else
      out[name.get<std::string>()] = "ok";
  }
  return out;
}

}  // namespace

OllamaContractServer::OllamaContractServer(std::vector<std::string> models)
    : models_(std::move(models)), port_(free_local_port()) {
  server_.Post("/api/chat",
               [this](const httplib::Request& q, httplib::Response& r) { handle_chat(q, r); });
  server_.Post("/api/embed",
               [this](const httplib::Request& q, httplib::Response& r) { handle_embed(q, r); });
  thread_ = std::thread([this] { server_.listen("127.0.0.1", port_); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

OllamaContractServer::~OllamaContractServer() {
  server_.stop();
  thread_.join();
}

void OllamaContractServer::set_fault(Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
}

std::vector<nlohmann::json> OllamaContractServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

bool OllamaContractServer::accept(const httplib::Request& req, httplib::Response& res,
                                  nlohmann::json& body) {
  body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    error_response(res, 400, "invalid JSON body");
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(body);
  }
  if (!body.contains("model") || !body["model"].is_string()) {
    error_response(res, 400, "model is required");
    return false;
  }
  const std::string model = body["model"];
  if (std::find(models_.begin(), models_.end(), model) == models_.end()) {
    error_response(res, 404, "model \"" + model + "\" not found, try pulling it first");
    return false;
  }
  return true;
}

void OllamaContractServer::handle_chat(const httplib::Request& req, httplib::Response& res) {
  nlohmann::json body;
  if (!accept(req, res, body)) return;
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return error_response(res, 400, "messages are required");
  }
  const std::string model = body["model"];
  std::vector<std::string> pieces;
  if (body.contains("format") && body["format"].is_object()) {
    pieces = {answer_for_schema(body["format"]).dump()};
  } else {
    for (const std::string& w : words_of(body["messages"].back().value("content", ""))) {
      pieces.push_back((pieces.empty() ? "echo: " : " ") + w);
    }
  }
  const int64_t limit = body.value("options", nlohmann::json::object()).value("num_predict", -1);
  const bool cut = limit >= 0 && static_cast<int64_t>(pieces.size()) > limit;
  if (cut) pieces.resize(static_cast<size_t>(limit));
  nlohmann::json final_event = {{"model", model},
                                {"created_at", "2026-11-24T00:00:00Z"},
                                {"done", true},
                                {"done_reason", cut ? "length" : "stop"},
                                {"total_duration", 5000000},
                                {"load_duration", 1000000},
                                {"prompt_eval_count", 7},
                                {"prompt_eval_duration", 2000000},
                                {"eval_count", pieces.size()},
                                {"eval_duration", 3000000}};
  if (!body.value("stream", true)) {
    std::string text;
    for (const std::string& p : pieces) text += p;
    final_event["message"] = {{"role", "assistant"}, {"content", text}};
    res.set_content(final_event.dump(), "application/json");
    return;
  }
  std::string stream;
  for (const std::string& p : pieces) {
    stream += nlohmann::json{{"model", model},
                             {"created_at", "2026-11-24T00:00:00Z"},
                             {"message", {{"role", "assistant"}, {"content", p}}},
                             {"done", false}}
                  .dump() +
              "\n";
  }
  Fault fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fault = fault_;
  }
  if (fault == Fault::kErrorMidStream) {
    stream +=
        nlohmann::json{{"error", "an error was encountered while running the model"}}.dump() + "\n";
  } else if (fault != Fault::kTruncatedStream) {
    final_event["message"] = {{"role", "assistant"}, {"content", ""}};
    stream += final_event.dump() + "\n";
  }
  res.set_content(stream, "application/x-ndjson");
}

void OllamaContractServer::handle_embed(const httplib::Request& req, httplib::Response& res) {
  nlohmann::json body;
  if (!accept(req, res, body)) return;
  if (!body.contains("input")) return error_response(res, 400, "input is required");
  const std::string text =
      body["input"].is_string() ? body["input"].get<std::string>() : body["input"].dump();
  std::vector<double> v(8, 0.0);
  for (size_t i = 0; i < text.size(); ++i) v[i % 8] += static_cast<unsigned char>(text[i]);
  double norm = 0;
  for (const double x : v) norm += x * x;
  for (double& x : v) x /= std::sqrt(norm);
  res.set_content(nlohmann::json{{"model", body["model"]}, {"embeddings", {v}}}.dump(),
                  "application/json");
}

}  // namespace a4ps::testing
