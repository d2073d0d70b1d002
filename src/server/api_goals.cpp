// /v1/goals: the goals A4PS set itself and those a person queues (docs/http-api.md), over the
// living loop's goal store; and their figures for /metrics and /health.
#include <chrono>
#include <limits>
#include <map>
#include <string>

#include "core/error.h"
#include "runtime/living_loop.h"
#include "server/api_internal.h"

namespace a4ps::server {
namespace {

using motive::Goal;
using nlohmann::json;

runtime::LivingLoop& loop_of(const ApiServer::Impl& s) {
  if (s.deps.loop == nullptr) throw Error(ErrorCode::kUnavailable, "this server has no goals");
  return *s.deps.loop;
}

std::int64_t goal_id(Call& c) {
  const std::string& text = c.params["id"];
  std::size_t used = 0;
  long long id = 0;
  try {
    id = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || id < 1) {
    throw_invalid_argument("goal id \"" + text + "\": must be a whole number, at least 1");
  }
  return id;
}

json goal_json(motive::GoalStore& goals, const Goal& g) {
  json out = g.to_json();
  out["runs"] = json::array();
  for (const motive::GoalRun& r : goals.runs_of(g.id)) {
    out["runs"].push_back({{"attempt", r.attempt},
                           {"thread_id", r.thread_id},
                           {"run_id", r.run_id},
                           {"started_ms", r.started_ms},
                           {"finished_ms", r.finished_ms ? json(*r.finished_ms) : json()},
                           {"outcome", r.outcome}});
  }
  return out;
}

void list_goals(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  runtime::LivingLoop& loop = loop_of(s);
  loop.poll();  // a run's events are goals by the time anyone looks
  motive::GoalFilter filter;
  if (c.request.has_param("status")) {
    filter.status = motive::goal_status_from_name(c.request.get_param_value("status"));
  }
  json goals = json::array();
  for (const Goal& g : loop.goals().list(filter)) goals.push_back(g.to_json());
  send_json_body(res, {{"goals", goals}, {"loop", loop.status()}});
}

void create_goal(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  runtime::LivingLoop& loop = loop_of(s);
  const Goal goal =
      loop.add_user_goal(c.body["prompt"].get<std::string>(), c.body.value("priority", 50),
                         c.body.value("context", json::object()));
  send_json_body(res, goal_json(loop.goals(), goal), 201);
}

void change_goal(ApiServer::Impl& s, Call& c, httplib::Response& res, const std::string& verb) {
  motive::GoalStore& goals = loop_of(s).goals();
  const std::int64_t id = goal_id(c);
  const Goal g = verb == "pause"    ? goals.pause(id)
                 : verb == "resume" ? goals.resume(id)
                                    : goals.cancel(id);
  send_json_body(res, goal_json(goals, g));
}

// The stream's place in the goals' changes: the last (updated_ms, id) it sent.
// Goals changed at the last millisecond it sent are read again each time, and sent again only
// if they changed: a goal changed twice within one millisecond is not missed.
struct GoalCursor {
  std::int64_t updated_ms = 0;
  std::int64_t id = 0;
  std::map<std::int64_t, std::string> sent_at_edge;  // goal id -> frame, at updated_ms
};

// Where a client resumes: Last-Event-ID (or ?after=) is the updated_ms of the last change it
// saw; changes at that same millisecond are sent again (a frame is a goal's whole state, so a
// repeat is harmless, and nothing is lost).
GoalCursor stream_start(const Call& c) {
  std::string from = c.request.get_header_value("Last-Event-ID");
  if (from.empty()) from = c.request.get_param_value("after");
  if (from.empty()) return {};
  std::size_t used = 0;
  long long ms = -1;
  try {
    ms = std::stoll(from, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != from.size() || ms < 0) {
    throw_invalid_argument("Last-Event-ID \"" + from +
                           "\": expected the updated_ms of the last goal change seen");
  }
  return {ms - 1, std::numeric_limits<std::int64_t>::max(), {}};
}

// The frames of the loop's state when it changed since `*loop`, and of every goal changed
// after `*at`; both advance.
std::string goal_frames(ApiServer::Impl& s, std::string* loop, GoalCursor* at) {
  runtime::LivingLoop& living = loop_of(s);
  std::string out;
  const std::string state = living.status().dump();
  if (state != *loop) {
    out += "event: loop\ndata: " + state + "\n\n";
    *loop = state;
  }
  motive::GoalStore& goals = living.goals();
  // From the start of the last millisecond sent, not after its last goal (see GoalCursor).
  const bool resumed = at->id == std::numeric_limits<std::int64_t>::max();
  const std::int64_t from = resumed ? at->updated_ms : at->updated_ms - 1;
  for (const Goal& g : goals.changed_after(from, std::numeric_limits<std::int64_t>::max())) {
    const std::string frame = "id: " + std::to_string(g.updated_ms) +
                              "\nevent: goal\ndata: " + goal_json(goals, g).dump() + "\n\n";
    if (g.updated_ms > at->updated_ms) {
      at->updated_ms = g.updated_ms;
      at->sent_at_edge.clear();
    } else if (at->sent_at_edge[g.id] == frame) {
      continue;  // already sent as it is
    }
    at->id = g.id;
    at->sent_at_edge[g.id] = frame;
    out += frame;
  }
  return out;
}

// Server-Sent Events of the goals: the loop's state, then every goal changed since the
// client's Last-Event-ID (all of them at first), then each change as it happens, until the
// server stops. Changes are read every kGoalStreamPollMs (another process may make them).
void stream_goals(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  loop_of(s);  // 503 before the stream starts
  const GoalCursor start = stream_start(c);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [&s, at = start, loop = std::string(), quiet_ms = std::int64_t{0}](
                               size_t, httplib::DataSink& sink) mutable {
        constexpr std::int64_t kPollMs = 500;
        constexpr std::int64_t kKeepAliveMs = 15'000;  // finds a client that went away
        for (;;) {
          const bool last = s.stopping;  // a last look, so that no change before it is missed
          if (quiet_ms >= kKeepAliveMs) {
            if (!sink.write(": keep-alive\n\n", 14)) return false;
            quiet_ms = 0;
          }
          std::string frames;
          try {
            s.deps.loop->poll();  // a run's events are goals by the time they are shown
            frames = goal_frames(s, &loop, &at);
          } catch (const Error& e) {
            frames = "event: error\ndata: " + json{{"message", e.what()}}.dump() + "\n\n";
          }
          if (!frames.empty()) {
            if (!sink.write(frames.data(), frames.size())) return false;  // the client left
            quiet_ms = 0;
          }
          if (last) break;
          std::unique_lock lock(s.mu);
          s.changed.wait_for(lock, std::chrono::milliseconds(kPollMs));
          quiet_ms += kPollMs;
        }
        sink.done();
        return true;
      });
}

}  // namespace

std::string goal_metrics(ApiServer::Impl& s) {
  if (s.deps.loop == nullptr) return "";
  const motive::GoalFigures f = s.deps.loop->goals().figures();
  std::string out = "# HELP a4ps_goals Goals in the image by status.\n# TYPE a4ps_goals gauge\n";
  for (const auto& [status, n] : f.by_status) {
    out += "a4ps_goals{status=\"" + std::string(motive::goal_status_name(status)) + "\"} " +
           std::to_string(n) + "\n";
  }
  out +=
      "# HELP a4ps_autonomous_runs_total Runs goals became.\n"
      "# TYPE a4ps_autonomous_runs_total counter\na4ps_autonomous_runs_total " +
      std::to_string(f.runs) + "\n";
  out +=
      "# HELP a4ps_goal_wait_seconds From a goal's creation to its first run.\n"
      "# TYPE a4ps_goal_wait_seconds summary\na4ps_goal_wait_seconds_sum " +
      std::to_string(f.waited_seconds) + "\na4ps_goal_wait_seconds_count " +
      std::to_string(f.first_runs) + "\n";
  return out;
}

json loop_health(ApiServer::Impl& s) {
  if (s.deps.loop == nullptr) return {{"on", false}, {"why", "this server has no living loop"}};
  return s.deps.loop->status();
}

void add_goal_endpoints(ApiServer::Impl& s, std::vector<Endpoint>& out) {
  const json object = {{"type", "object"}};
  const json no_body = {
      {"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
  out.push_back(make_endpoint(
      {"GET", "/v1/goals",
       "The goals (?status=queued|running|paused|done|failed|cancelled|expired) and the loop's "
       "state",
       nullptr, object},
      [&s](Call& c, httplib::Response& res) { list_goals(s, c, res); }));
  out.push_back(
      make_endpoint({"POST",
                     "/v1/goals",
                     "Queues a goal of a person's own (201)",
                     {{"type", "object"},
                      {"properties",
                       {{"prompt", {{"type", "string"}, {"minLength", 1}, {"maxLength", 100000}}},
                        {"priority", {{"type", "integer"}, {"minimum", 0}, {"maximum", 100}}},
                        {"context", {{"type", "object"}}}}},
                      {"required", {"prompt"}},
                      {"additionalProperties", false}},
                     object,
                     201},
                    [&s](Call& c, httplib::Response& res) { create_goal(s, c, res); }));
  Route events{"GET",
               "/v1/goals/events",
               "Goal changes and the loop's state as Server-Sent Events, resumable with "
               "Last-Event-ID",
               nullptr,
               {{"type", "string"}}};
  events.content_type = "text/event-stream";
  out.push_back(
      make_endpoint(events, [&s](Call& c, httplib::Response& res) { stream_goals(s, c, res); }));
  out.push_back(
      make_endpoint({"GET", "/v1/goals/{id}", "One goal: why it exists, its runs, what it produced",
                     nullptr, object},
                    [&s](Call& c, httplib::Response& res) {
                      motive::GoalStore& goals = loop_of(s).goals();
                      send_json_body(res, goal_json(goals, goals.get(goal_id(c))));
                    }));
  for (const std::string verb : {"pause", "resume", "cancel"}) {
    const std::string says = verb == "pause"    ? "Holds a queued or running goal back"
                             : verb == "resume" ? "Queues a paused goal again"
                                                : "Gives a goal up for good";
    out.push_back(make_endpoint(
        {"POST", "/v1/goals/{id}/" + verb, says, no_body, object},
        [&s, verb](Call& c, httplib::Response& res) { change_goal(s, c, res, verb); }));
  }
}

}  // namespace a4ps::server
