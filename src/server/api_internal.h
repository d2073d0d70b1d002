// server/api_internal: what api_server.cpp and api_routes.cpp share. Not a public interface.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include "core/error.h"
#include "llm/json_schema.h"
#include "server/api_server.h"

namespace a4ps::server {

struct Unauthenticated {};

// One request as a handler sees it: the raw request, its validated JSON body, path parameters.
struct Call {
  const httplib::Request& request;
  nlohmann::json body;
  std::map<std::string, std::string> params;
};

struct Endpoint {
  Route route;
  std::shared_ptr<llm::JsonSchema> validator;  // of the request body; null without one
  std::function<void(Call&, httplib::Response&)> handler;
};

// A run this process executes.
struct RunSlot {
  std::string run_id;  // known once the run has started
  std::string thread_id;
  std::stop_source stop;
  std::jthread worker;  // background runs
  bool finished = false;
};

struct ApiServer::Impl {
  Impl(ApiDeps deps, ApiOptions options);

  void authorize(const httplib::Request& req) const;
  // Handles the request and names its route for the metrics.
  void dispatch(const Endpoint& endpoint, const httplib::Request& req, httplib::Response& res);
  // Counts a request in the metrics once it is answered, whatever answered it (an endpoint,
  // the UI's files, a refusal).
  void count_request(const httplib::Request& req, const httplib::Response& res);
  void handle(const Endpoint& endpoint, const httplib::Request& req, httplib::Response& res);
  void register_routes();
  void reap();
  void notify();
  bool in_flight(const std::string& run_id);

  ApiDeps deps;
  ApiOptions options;
  httplib::Server http;
  int port = 0;
  std::vector<Endpoint> endpoints;
  std::vector<Route> route_list;
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards slots and generation
  std::condition_variable changed;
  std::uint64_t generation = 0;  // bumped on every event and every finished run
  std::vector<std::shared_ptr<RunSlot>> slots;
  std::mutex frames_mu;                                             // guards the two below
  std::map<std::string, std::vector<std::string>> frame_cache;      // run -> SSE frames by seq
  std::deque<std::string> frame_order;                              // oldest cached run first
  std::mutex metrics_mu;                                            // guards the two maps below
  std::map<std::pair<std::string, int>, std::uint64_t> requests;    // (route, status) -> count
  std::map<std::string, std::pair<double, std::uint64_t>> latency;  // route -> (seconds, count)
};

int http_status(ErrorCode code);
void send_error(httplib::Response& res, int status, const std::string& message);
std::vector<Endpoint> api_endpoints(ApiServer::Impl& impl);
void send_json_body(httplib::Response& res, const nlohmann::json& body, int status = 200);

using RunBody = std::function<graph::RunResult(const graph::RunOptions&)>;
// Runs `body` (a start_run or resume_run) on a thread of its own and returns {run_id,
// thread_id, status: running} once it has started; or, when `wait`, runs it here and returns
// the finished run. Throws what kept it from starting (a busy or unknown thread).
nlohmann::json launch_run(ApiServer::Impl& impl, const std::string& thread_id, bool wait,
                          const RunBody& body);
// Calls `on_event` for each event of the run after `after`, stored ones first, then new ones as
// they come, until the run is over (true) or `on_event` returns false (false).
bool follow_run(ApiServer::Impl& impl, const std::string& run_id,
                const std::function<bool(const graph::EventRecord&)>& on_event,
                std::int64_t after = 0);
// OpenAI's chat completions (api_openai.cpp).
void add_openai_endpoints(ApiServer::Impl& impl, std::vector<Endpoint>& out);
// Memory, models, codex and /metrics (api_resources.cpp).
void add_resource_endpoints(ApiServer::Impl& impl, std::vector<Endpoint>& out);
// /v1/goals (api_goals.cpp); the goals' lines of /metrics; the loop's state for /health.
void add_goal_endpoints(ApiServer::Impl& impl, std::vector<Endpoint>& out);
void add_evolve_endpoints(ApiServer::Impl& impl, std::vector<Endpoint>& out);
std::string goal_metrics(ApiServer::Impl& impl);
nlohmann::json loop_health(ApiServer::Impl& impl);
Endpoint make_endpoint(Route route, std::function<void(Call&, httplib::Response&)> handler);
nlohmann::json openapi_document(const std::vector<Endpoint>& endpoints, bool secured);

}  // namespace a4ps::server
