// /v1/goals: the goals A4PS set itself and those a person queues (docs/http-api.md), over the
// living loop's goal store; and their figures for /metrics and /health.
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

}  // namespace

std::string goal_metrics(ApiServer::Impl& s) {
  if (s.deps.loop == nullptr) return "";
  motive::GoalStore& goals = s.deps.loop->goals();
  std::string out = "# HELP a4ps_goals Goals in the image by status.\n# TYPE a4ps_goals gauge\n";
  for (const motive::GoalStatus status :
       {motive::GoalStatus::kQueued, motive::GoalStatus::kRunning, motive::GoalStatus::kPaused,
        motive::GoalStatus::kDone, motive::GoalStatus::kFailed, motive::GoalStatus::kCancelled,
        motive::GoalStatus::kExpired}) {
    const auto n = goals.list({status, 1'000'000}).size();
    out += "a4ps_goals{status=\"" + std::string(motive::goal_status_name(status)) + "\"} " +
           std::to_string(n) + "\n";
  }
  const std::vector<motive::GoalRun> runs = goals.runs_since(0);
  double waited_s = 0;
  std::size_t first_runs = 0;
  for (const motive::GoalRun& r : runs) {
    if (r.attempt != 1) continue;
    if (const auto g = goals.find(r.goal_id)) {
      waited_s += static_cast<double>(r.started_ms - g->created_ms) / 1000.0;
      ++first_runs;
    }
  }
  out +=
      "# HELP a4ps_autonomous_runs_total Runs goals became.\n"
      "# TYPE a4ps_autonomous_runs_total counter\na4ps_autonomous_runs_total " +
      std::to_string(runs.size()) + "\n";
  out +=
      "# HELP a4ps_goal_wait_seconds From a goal's creation to its first run.\n"
      "# TYPE a4ps_goal_wait_seconds summary\na4ps_goal_wait_seconds_sum " +
      std::to_string(waited_s) + "\na4ps_goal_wait_seconds_count " + std::to_string(first_runs) +
      "\n";
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
