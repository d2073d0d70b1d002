// server/api_server: the HTTP API of `a4ps serve` (docs/http-api.md), on cpp-httplib. One
// route table is both what the server dispatches from and what /openapi.json describes, so
// the two cannot drift. Every request body is JSON validated against its route's schema
// (unknown fields refused); every error is a JSON body {"error": {"code", "message"}} with a
// status that says what kind of error it is. Bound to anything but loopback the server needs
// a token, and then every request must carry `Authorization: Bearer TOKEN`.
//
// Runs execute on their own threads against the image's checkpointer; their events are read
// back from it, so a Server-Sent Events client can disconnect and continue from
// `Last-Event-ID`. stop() cancels runs in flight at their next step boundary: they stay
// resumable (`a4ps resume`, or POST /v1/runs/{id}/resume after a restart).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "forge/tool_registry.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "graph/state_graph.h"
#include "llm/model_manager.h"
#include "memory/memory_store.h"
#include "persona/codex.h"

namespace a4ps::evolve {
class StrategicLoop;
}
namespace a4ps::runtime {
class LivingLoop;
}

namespace a4ps::server {

// What the API runs. The graph is the persona workflow in `a4ps serve`, any graph in tests.
struct ApiDeps {
  graph::Checkpointer* checkpointer = nullptr;
  std::function<graph::CompiledGraph()> graph;
  // The graph's input for a task and its documents ([{label, text}], possibly empty).
  std::function<nlohmann::json(const std::string& task, const nlohmann::json& documents)> input;
  // The answer in a finished run's state, and the node whose tokens are the answer (streamed
  // as the OpenAI message's content).
  std::function<std::string(const graph::State& state)> answer;
  std::string answer_node;
  // The persona turns of a finished run (the "a4ps" extension of chat completions); optional.
  std::function<nlohmann::json(const graph::State& state)> turns;
  // Called before every run starts; throws (e.g. kUnavailable: a model's server is down, 503)
  // to refuse the run before anything is stored. Optional.
  std::function<void()> before_run;
  graph::RunOptions run_options;  // max_steps and busy policy; cancel and on_event are set here
  nlohmann::json health;          // facts /health adds (version, models, degraded parts)
  memory::MemoryStore* memory = nullptr;       // /v1/memory; null: those routes answer 503
  llm::ModelManager* models = nullptr;         // /v1/models' budget and stats, /metrics
  const Codex* codex = nullptr;                // /v1/codex
  const forge::ToolRegistry* tools = nullptr;  // /v1/tools; null: those routes answer 503
  // /v1/goals, the goals in /metrics and the loop in /health; null: those routes answer 503.
  // A run a user starts here tells it (user_started/user_finished), so that an autonomous run
  // gives way at its next step.
  runtime::LivingLoop* loop = nullptr;
  // /v1/evolve: the strategic loop's judgements, datasets, candidates and adoptions; null:
  // those routes answer 503.
  evolve::StrategicLoop* evolve = nullptr;
};

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (see port())
  std::string token;
  std::size_t max_body_bytes = 1 << 20;
  std::vector<std::string> cors_origins;  // empty: no CORS headers
  int threads = 128;                      // concurrent connections (SSE clients hold one each)
  // The npm-installed browser assets (web/node_modules: swagger-ui-dist for /docs); empty or
  // missing: /docs answers 503 saying how to install them.
  std::filesystem::path web_dir;  // also holds ui/, the browser UI served at /
};

struct Route {
  std::string method;  // GET, POST
  std::string path;    // OpenAPI form: /v1/runs/{id}
  std::string summary;
  nlohmann::json request_schema;   // null: no body
  nlohmann::json response_schema;  // of the success status
  int success_status = 200;
  bool open = false;  // served without the token (pages that hold no data: /docs)
  std::string content_type = "application/json";  // of the success response
};

class ApiServer {
 public:
  // Throws kFailedPrecondition when the host is not loopback and there is no token, and
  // kInvalidArgument for options out of range.
  ApiServer(ApiDeps deps, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds; returns the port. Throws bind_error()'s error when the address cannot be bound.
  int bind();
  int port() const;
  // "http://HOST:PORT" once bound (an IPv6 host in brackets: http://[::1]:8000).
  std::string url() const;
  // Serves until stop(); call bind() first.
  void serve();
  // Stops accepting, cancels runs in flight at their next step (they stay resumable) and waits
  // for them. Safe from another thread or a signal-watching thread.
  void stop();

  const std::vector<Route>& routes() const;
  nlohmann::json openapi() const;

  struct Impl;  // api_internal.h

 private:
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

// `host` as it goes in a URL: an IPv6 address in brackets ("::1" -> "[::1]").
std::string url_host(const std::string& host);

// Why binding host:port failed, from bind(2)'s errno: kPermissionDenied for EACCES/EPERM (a
// port below 1024 without the capability), kUnavailable for a port in use, an address this
// machine does not have, or anything else; the message names the address and the fix.
Error bind_error(const std::string& host, int port, int error_number);

}  // namespace a4ps::server
