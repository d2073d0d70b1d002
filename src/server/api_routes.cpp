// The API's routes: each one's schemas and handler, in one table (docs/http-api.md).
#include <future>

#include "core/clock.h"
#include "runtime/living_loop.h"
#include "server/api_internal.h"

namespace a4ps::server {
namespace {

using nlohmann::json;

const json kString = {{"type", "string"}};

json object_schema(json properties, std::vector<std::string> required) {
  if (properties.is_null()) properties = json::object();  // `{}` arrives as null
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

const json& run_schema() {
  static const json schema = {
      {"type", "object"},
      {"properties",
       {{"run_id", kString},
        {"thread_id", kString},
        {"status",
         {{"enum",
           {"running", "interrupted", "done", "error", "cancelled", "step_limit", "crashed"}}}},
        {"steps", {{"type", "integer"}}},
        {"error", kString},
        {"error_node", kString},
        {"created_ms", {{"type", "integer"}}},
        {"updated_ms", {{"type", "integer"}}},
        {"answer", kString},
        {"interrupts", {{"type", "array"}}}}},
      {"required", {"run_id", "thread_id", "status"}}};
  return schema;
}

// The ?status= of GET /v1/runs: empty (all runs) or one of the statuses a run can have.
std::string status_filter(const httplib::Request& req) {
  const std::string status = req.get_param_value("status");
  if (status.empty()) return status;
  std::string known;
  for (const json& name : run_schema()["properties"]["status"]["enum"]) {
    if (name == status) return status;
    known += (known.empty() ? "" : ", ") + name.get<std::string>();
  }
  throw_invalid_argument("status=" + status + ": expected one of " + known);
}

json run_json(const graph::RunInfo& r) {
  json out = {{"task", r.input.is_object() ? r.input.value("task", json("")) : json("")},
              {"run_id", r.id},
              {"thread_id", r.thread_id},
              {"status", r.status},
              {"steps", r.steps},
              {"created_ms", r.created_ms},
              {"updated_ms", r.updated_ms}};
  if (!r.error.empty()) out["error"] = r.error;
  if (!r.error_node.empty()) out["error_node"] = r.error_node;
  return out;
}

void send_json(httplib::Response& res, const json& body, int status = 200) {
  send_json_body(res, body, status);
}

// The run's row plus, when it is done, the answer in the state of the run's last checkpoint
// (not the thread's latest: a later run on the thread has its own answer).
json describe_run(ApiServer::Impl& s, const std::string& run_id) {
  const graph::RunInfo info = s.deps.checkpointer->get_run(run_id);
  json out = run_json(info);
  if (info.status == "done" && s.deps.answer) {
    std::optional<std::int64_t> last;
    for (const graph::CheckpointInfo& c : s.deps.checkpointer->history(info.thread_id)) {
      if (c.run_id == run_id) last = c.id;
    }
    if (last) out["answer"] = s.deps.answer(s.deps.checkpointer->load(info.thread_id, last).state);
  }
  return out;
}

json result_json(ApiServer::Impl& s, const graph::RunResult& r) {
  json out = {{"run_id", r.run_id},
              {"thread_id", r.thread_id},
              {"status", std::string(graph::run_status_name(r.status))},
              {"steps", r.steps}};
  if (r.status == graph::RunStatus::kDone && s.deps.answer) out["answer"] = s.deps.answer(r.state);
  if (!r.error.empty()) out["error"] = r.error;
  if (!r.failed_node.empty()) out["error_node"] = r.failed_node;
  json interrupts = json::array();
  for (const graph::PendingInterrupt& i : r.interrupts) {
    interrupts.push_back({{"id", i.id}, {"node", i.node}, {"payload", i.payload}});
  }
  if (!interrupts.empty()) out["interrupts"] = interrupts;
  return out;
}

// Runs `body` on a new thread and returns once the run has started (its id known), or throws
// what stopped it from starting (a busy thread, an unknown one). Or, when `wait`, runs it here.
json launch(ApiServer::Impl& s, const std::string& thread_id, bool wait, const RunBody& body) {
  if (s.stopping) throw Error(ErrorCode::kUnavailable, "the server is stopping");
  if (s.deps.before_run) s.deps.before_run();
  s.reap();
  auto slot = std::make_shared<RunSlot>();
  slot->thread_id = thread_id;
  auto started = std::make_shared<std::promise<std::string>>();
  auto announced = std::make_shared<std::atomic<bool>>(false);
  graph::RunOptions options = s.deps.run_options;
  options.cancel = slot->stop.get_token();
  options.on_event = [&s, slot, started, announced](const graph::EventRecord& e) {
    if (!announced->exchange(true)) {
      {
        std::lock_guard lock(s.mu);
        slot->run_id = e.run_id;
      }
      started->set_value(e.run_id);
    }
    s.notify();
  };
  {
    std::lock_guard lock(s.mu);
    // stop() sets `stopping` before it takes the slots to cancel: checked under the same lock,
    // no run starts that it would miss.
    if (s.stopping) throw Error(ErrorCode::kUnavailable, "the server is stopping");
    s.slots.push_back(slot);
  }
  // A user's run: an autonomous one gives way at its next step, and no goal starts meanwhile.
  if (s.deps.loop != nullptr) s.deps.loop->user_started();
  const auto finish = [&s, slot] {
    {
      std::lock_guard lock(s.mu);
      slot->finished = true;
    }
    if (s.deps.loop != nullptr) s.deps.loop->user_finished();
    s.notify();
  };
  if (wait) {
    try {
      const graph::RunResult result = body(options);
      finish();
      return result_json(s, result);
    } catch (...) {
      finish();
      throw;
    }
  }
  slot->worker = std::jthread([body, options, started, announced, finish] {
    try {
      body(options);
      if (!announced->load()) {  // the runner always announces; never leave a waiter
        throw Error(ErrorCode::kInternal, "the run ended without a run_started event");
      }
    } catch (...) {
      if (!announced->exchange(true)) started->set_exception(std::current_exception());
    }
    finish();
  });
  const std::string run_id = started->get_future().get();  // rethrows a failure to start
  return {{"run_id", run_id}, {"thread_id", thread_id}, {"status", "running"}};
}

std::string thread_of_new_run(const json& body) {
  return body.contains("thread_id") ? body["thread_id"].get<std::string>() : graph::make_id("t");
}

void create_run(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string task = c.body["task"];
  const std::string thread = thread_of_new_run(c.body);
  const bool background = c.body.value("background", false);
  const json input = s.deps.input(task, c.body.value("documents", json::array()));
  const json run = launch(s, thread, !background, [&s, thread, input](const auto& options) {
    return graph::start_run(s.deps.graph(), *s.deps.checkpointer, thread, input, options);
  });
  send_json(res, run, background ? 202 : 200);
}

void invoke(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string task = c.body["task"];
  const std::string thread = graph::make_id("t");
  const json input = s.deps.input(task, json::array());
  const json run = launch(s, thread, true, [&s, thread, input](const auto& options) {
    return graph::start_run(s.deps.graph(), *s.deps.checkpointer, thread, input, options);
  });
  if (run["status"] != "done") {
    throw Error(ErrorCode::kFailedPrecondition,
                "run " + run["run_id"].get<std::string>() + " ended " +
                    run["status"].get<std::string>() +
                    (run.contains("error") ? ": " + run["error"].get<std::string>() : "") +
                    " (GET /v1/runs/" + run["run_id"].get<std::string>() + ")");
  }
  send_json(
      res,
      {{"response", run["answer"]}, {"run_id", run["run_id"]}, {"thread_id", run["thread_id"]}});
}

void resume(ApiServer::Impl& s, Call& c, httplib::Response& res, bool by_thread) {
  const std::string thread = by_thread ? s.deps.checkpointer->get_thread(c.params["id"]).id
                                       : s.deps.checkpointer->get_run(c.params["id"]).thread_id;
  graph::ResumeValues values;
  if (c.body.contains("values")) {
    for (const auto& [id, value] : c.body["values"].items()) values[id] = value;
  }
  if (c.body.contains("value")) values[""] = c.body["value"];
  const bool background = c.body.value("background", false);
  const json run = launch(s, thread, !background, [&s, thread, values](const auto& options) {
    return graph::resume_run(s.deps.graph(), *s.deps.checkpointer, thread, values, options);
  });
  send_json(res, run, background ? 202 : 200);
}

void cancel(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string id = c.params["id"];
  s.deps.checkpointer->get_run(id);  // 404 for an unknown run
  std::shared_ptr<RunSlot> slot;
  {
    std::lock_guard lock(s.mu);
    for (const auto& candidate : s.slots) {
      if (candidate->run_id == id && !candidate->finished) slot = candidate;
    }
  }
  if (!slot) {
    throw Error(ErrorCode::kFailedPrecondition,
                "run " + id + " is not running in this server; nothing to cancel");
  }
  slot->stop.request_stop();
  send_json(res, {{"run_id", id}, {"cancelling", true}}, 202);
}

std::string sse_frame(const graph::EventRecord& e) {
  json data = e.data;
  data["seq"] = e.seq;
  data["ts_ms"] = e.ts_ms;
  return "id: " + std::to_string(e.seq) + "\nevent: " + e.kind + "\ndata: " + data.dump() + "\n\n";
}

// The SSE frames of the run after seq `after`, concatenated, and the last seq they hold. Frames
// are made once per event and kept for every client of the run (a hundred clients of one run
// cost one query and one JSON encoding per event, not a hundred); the cache holds the most
// recently followed runs.
std::pair<std::string, std::int64_t> frames_after(ApiServer::Impl& s, const std::string& run_id,
                                                  std::int64_t after) {
  std::lock_guard lock(s.frames_mu);
  auto it = s.frame_cache.find(run_id);
  if (it == s.frame_cache.end()) {
    if (s.frame_order.size() >= 64) {
      s.frame_cache.erase(s.frame_order.front());
      s.frame_order.pop_front();
    }
    it = s.frame_cache.emplace(run_id, std::vector<std::string>()).first;
    s.frame_order.push_back(run_id);
  }
  std::vector<std::string>& cached = it->second;  // cached[i] is the frame of seq i + 1
  const auto have = static_cast<std::int64_t>(cached.size());
  if (after >= have) {
    for (const graph::EventRecord& e : s.deps.checkpointer->events(run_id, have, 1000)) {
      cached.push_back(sse_frame(e));
    }
  }
  std::string batch;
  const auto end = static_cast<std::int64_t>(cached.size());
  for (std::int64_t seq = after + 1; seq <= end; ++seq) {
    batch += cached[static_cast<std::size_t>(seq - 1)];
  }
  return {std::move(batch), std::max(after, end)};
}

// Server-Sent Events of the run from after `Last-Event-ID` (or ?after=N): the stored events
// first, then each new one as the run produces it, until the run is no longer running.
void stream_events(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string id = c.params["id"];
  s.deps.checkpointer->get_run(id);  // 404 before the stream starts
  std::string from = c.request.get_header_value("Last-Event-ID");
  if (from.empty()) from = c.request.get_param_value("after");
  std::int64_t after = 0;
  if (!from.empty()) {
    try {
      after = std::stoll(from);
    } catch (const std::exception&) {
      throw_invalid_argument("Last-Event-ID \"" + from + "\": expected an event number");
    }
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [&s, id, after](size_t, httplib::DataSink& sink) mutable {
        for (;;) {
          std::uint64_t seen = 0;
          {
            std::lock_guard lock(s.mu);
            seen = s.generation;
          }
          const bool live = s.in_flight(id);  // before the frames: see follow_run
          const auto [batch, last] = frames_after(s, id, after);
          if (!batch.empty()) {
            if (!sink.write(batch.data(), batch.size())) return false;  // the client left
            after = last;
            continue;
          }
          // A run this server executes is followed to its end, even while the server stops
          // (it is being cancelled, and its last events say so).
          if (!live && (s.stopping || s.deps.checkpointer->get_run(id).status != "running")) {
            sink.done();
            return true;
          }
          std::unique_lock lock(s.mu);
          s.changed.wait_for(lock, std::chrono::milliseconds(250),
                             [&] { return s.generation != seen; });
        }
      });
}

json checkpoint_json(const graph::CheckpointInfo& c) {
  json out = {{"checkpoint", c.id},   {"run_id", c.run_id},     {"step", c.step},
              {"pending", c.pending}, {"metadata", c.metadata}, {"created_ms", c.created_ms}};
  if (c.parent) out["parent"] = *c.parent;
  return out;
}

void thread_history(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string id = c.params["id"];
  s.deps.checkpointer->get_thread(id);  // 404 for an unknown thread
  json checkpoints = json::array();
  for (const graph::CheckpointInfo& info : s.deps.checkpointer->history(id)) {
    checkpoints.push_back(checkpoint_json(info));
  }
  send_json(res, {{"thread_id", id}, {"checkpoints", checkpoints}});
}

// A new thread from one of the thread's checkpoints (the latest by default), its state changed
// by `update` as if a node had written it; resume it to go on from there.
void fork_thread(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  std::optional<std::int64_t> at;
  if (c.body.contains("checkpoint")) at = c.body["checkpoint"].get<std::int64_t>();
  const std::string new_id =
      c.body.contains("new_thread_id") ? c.body["new_thread_id"].get<std::string>() : "";
  const graph::ThreadInfo made =
      s.deps.checkpointer->fork(c.params["id"], at, c.body.value("update", json::object()), new_id);
  send_json(
      res,
      {{"thread_id", made.id},
       {"parent_thread", made.parent_thread},
       {"parent_checkpoint", made.parent_checkpoint ? json(*made.parent_checkpoint) : json()}},
      201);
}

json health(ApiServer::Impl& s) {
  json out = s.deps.health.is_object() ? s.deps.health : json::object();
  out["status"] = "ok";
  std::lock_guard lock(s.mu);
  std::size_t running = 0;
  for (const auto& slot : s.slots) running += slot->finished ? 0U : 1U;
  out["runs_in_flight"] = running;
  out["living_loop"] = loop_health(s);
  return out;
}

Endpoint endpoint(Route route, std::function<void(Call&, httplib::Response&)> handler) {
  return make_endpoint(std::move(route), std::move(handler));
}

}  // namespace

void send_json_body(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

json launch_run(ApiServer::Impl& s, const std::string& thread_id, bool wait, const RunBody& body) {
  return launch(s, thread_id, wait, body);
}

bool follow_run(ApiServer::Impl& s, const std::string& run_id,
                const std::function<bool(const graph::EventRecord&)>& on_event,
                std::int64_t after) {
  for (;;) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(s.mu);
      seen = s.generation;
    }
    // Read before the events: a run seen finished here has stored all of them.
    const bool live = s.in_flight(run_id);
    const auto events = s.deps.checkpointer->events(run_id, after, 1000);
    for (const graph::EventRecord& e : events) {
      if (!on_event(e)) return false;
      after = e.seq;
    }
    if (!events.empty()) continue;
    // While the server stops, its runs are being cancelled: followed until they are.
    if (!live && (s.stopping || s.deps.checkpointer->get_run(run_id).status != "running")) {
      return true;
    }
    std::unique_lock lock(s.mu);
    // stop() bumps the generation too.
    s.changed.wait_for(lock, std::chrono::milliseconds(250), [&] { return s.generation != seen; });
  }
}

Endpoint make_endpoint(Route route, std::function<void(Call&, httplib::Response&)> handler) {
  std::shared_ptr<llm::JsonSchema> validator;
  if (!route.request_schema.is_null()) {
    validator = std::make_shared<llm::JsonSchema>(llm::JsonSchema::create(route.request_schema));
  }
  return {std::move(route), std::move(validator), std::move(handler)};
}

std::vector<Endpoint> api_endpoints(ApiServer::Impl& s) {
  const json task = {{"type", "string"}, {"minLength", 1}, {"maxLength", 100000}};
  const json run_list =
      object_schema({{"runs", {{"type", "array"}, {"items", run_schema()}}}}, {"runs"});
  std::vector<Endpoint> out;
  out.push_back(endpoint({"GET",
                          "/health",
                          "What works and what is degraded",
                          nullptr,
                          {{"type", "object"}, {"required", {"status"}}}},
                         [&s](Call&, httplib::Response& res) { send_json(res, health(s)); }));
  out.push_back(endpoint(
      {"GET", "/openapi.json", "This API's OpenAPI 3.1 description", nullptr, {{"type", "object"}}},
      [&s](Call&, httplib::Response& res) {
        send_json(res, openapi_document(s.endpoints, !s.options.token.empty()));
      }));
  out.push_back(
      endpoint({"POST", "/invoke",
                "Runs the task through the four personas and returns the answer (the "
                "blueprint's contract)",
                object_schema({{"task", task}}, {"task"}),
                object_schema({{"response", kString}, {"run_id", kString}, {"thread_id", kString}},
                              {"response"})},
               [&s](Call& c, httplib::Response& res) { invoke(s, c, res); }));
  out.push_back(endpoint(
      {"POST", "/v1/runs",
       "Starts a run of the task: waits for it, or with background=true returns 202 at once",
       object_schema({{"task", task},
                      {"thread_id", {{"type", "string"}, {"pattern", "^[A-Za-z0-9._-]{1,100}$"}}},
                      {"background", {{"type", "boolean"}}},
                      {"documents",
                       {{"type", "array"},
                        {"maxItems", 16},
                        {"items", object_schema({{"label", kString}, {"text", kString}},
                                                {"label", "text"})}}}},
                     {"task"}),
       run_schema()},
      [&s](Call& c, httplib::Response& res) { create_run(s, c, res); }));
  out.push_back(
      endpoint({"GET", "/v1/runs", "Runs, newest first (?thread_id=, ?status=)", nullptr, run_list},
               [&s](Call& c, httplib::Response& res) {
                 json runs = json::array();
                 for (const auto& r : s.deps.checkpointer->list_runs(
                          c.request.get_param_value("thread_id"), status_filter(c.request))) {
                   runs.push_back(run_json(r));
                 }
                 send_json(res, {{"runs", runs}});
               }));
  out.push_back(endpoint(
      {"GET", "/v1/runs/{id}", "One run; its answer once it is done", nullptr, run_schema()},
      [&s](Call& c, httplib::Response& res) { send_json(res, describe_run(s, c.params["id"])); }));
  out.push_back(endpoint(
      {"POST", "/v1/runs/{id}/cancel", "Cancels a run at its next step (it stays resumable)",
       object_schema({}, {}),
       object_schema({{"run_id", kString}, {"cancelling", {{"type", "boolean"}}}}, {"run_id"}),
       202},
      [&s](Call& c, httplib::Response& res) { cancel(s, c, res); }));
  out.push_back(endpoint(
      {"POST", "/v1/runs/{id}/resume",
       "Continues an interrupted, cancelled or crashed run; values answer its interrupts by id",
       object_schema({{"values", {{"type", "object"}}},
                      {"value", json::object()},
                      {"background", {{"type", "boolean"}}}},
                     {}),
       run_schema()},
      [&s](Call& c, httplib::Response& res) { resume(s, c, res, false); }));
  Route events{"GET", "/v1/runs/{id}/events",
               "The run's events as Server-Sent Events, resumable with Last-Event-ID", nullptr,
               kString};
  events.content_type = "text/event-stream";
  out.push_back(
      endpoint(events, [&s](Call& c, httplib::Response& res) { stream_events(s, c, res); }));
  out.push_back(endpoint({"GET", "/v1/threads", "Threads, with their graph and latest checkpoint",
                          nullptr, object_schema({{"threads", {{"type", "array"}}}}, {"threads"})},
                         [&s](Call&, httplib::Response& res) {
                           json threads = json::array();
                           for (const auto& t : s.deps.checkpointer->list_threads()) {
                             threads.push_back({{"thread_id", t.id},
                                                {"graph", t.graph},
                                                {"parent_thread", t.parent_thread},
                                                {"last_checkpoint", t.last_checkpoint},
                                                {"updated_ms", t.updated_ms}});
                           }
                           send_json(res, {{"threads", threads}});
                         }));
  out.push_back(endpoint(
      {"GET", "/v1/threads/{id}/history", "The thread's checkpoints, oldest first", nullptr,
       object_schema({{"thread_id", kString}, {"checkpoints", {{"type", "array"}}}},
                     {"checkpoints"})},
      [&s](Call& c, httplib::Response& res) { thread_history(s, c, res); }));
  out.push_back(endpoint(
      {"POST", "/v1/threads/{id}/fork",
       "A new thread from a checkpoint (default: the latest), optionally with a state update",
       object_schema(
           {{"checkpoint", {{"type", "integer"}, {"minimum", 0}}},
            {"update", {{"type", "object"}}},
            {"new_thread_id", {{"type", "string"}, {"pattern", "^[A-Za-z0-9._-]{1,100}$"}}}},
           {}),
       object_schema({{"thread_id", kString}, {"parent_thread", kString}}, {"thread_id"}), 201},
      [&s](Call& c, httplib::Response& res) { fork_thread(s, c, res); }));
  out.push_back(endpoint(
      {"POST", "/v1/threads/{id}/resume",
       "Continues the thread from its latest checkpoint (a fork, or its last unfinished run)",
       object_schema({{"values", {{"type", "object"}}},
                      {"value", json::object()},
                      {"background", {{"type", "boolean"}}}},
                     {}),
       run_schema()},
      [&s](Call& c, httplib::Response& res) { resume(s, c, res, true); }));
  add_resource_endpoints(s, out);
  add_goal_endpoints(s, out);
  add_evolve_endpoints(s, out);
  add_openai_endpoints(s, out);
  return out;
}

json openapi_document(const std::vector<Endpoint>& endpoints, bool secured) {
  json paths = json::object();
  for (const Endpoint& e : endpoints) {
    const Route& r = e.route;
    json operation = {{"summary", r.summary}};
    operation["responses"][std::to_string(r.success_status)] = {
        {"description", "success"},
        {"content", {{r.content_type, {{"schema", r.response_schema}}}}}};
    if (secured && r.open) operation["security"] = json::array();
    operation["responses"]["default"] = {
        {"description", "an error: {\"error\": {\"code\", \"message\"}}"}};
    if (!r.request_schema.is_null()) {
      operation["requestBody"] = {
          {"required", true}, {"content", {{"application/json", {{"schema", r.request_schema}}}}}};
    }
    json parameters = json::array();
    const std::regex param(R"(\{([a-z_]+)\})");
    for (auto it = std::sregex_iterator(r.path.begin(), r.path.end(), param);
         it != std::sregex_iterator(); ++it) {
      parameters.push_back(
          {{"name", (*it)[1].str()}, {"in", "path"}, {"required", true}, {"schema", kString}});
    }
    if (!parameters.empty()) operation["parameters"] = parameters;
    std::string method = r.method;
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    paths[r.path][method] = operation;
  }
  json doc = {
      {"openapi", "3.1.0"}, {"info", {{"title", "A4PS"}, {"version", "1"}}}, {"paths", paths}};
  if (secured) {
    doc["components"]["securitySchemes"]["bearer"] = {{"type", "http"}, {"scheme", "bearer"}};
    doc["security"] = json::array({{{"bearer", json::array()}}});
  }
  return doc;
}

}  // namespace a4ps::server
