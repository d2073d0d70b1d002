#include "motive/policy.h"

#include <algorithm>
#include <map>

namespace a4ps::motive {
namespace {

constexpr std::int64_t kHourMs = 3600LL * 1000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

// "42 s", "12 min", "3 h".
std::string format_duration(std::int64_t ms) {
  const std::int64_t s = std::max<std::int64_t>(0, (ms + 999) / 1000);
  if (s < 120) return std::to_string(s) + " s";
  if (s < 2 * 3600) return std::to_string((s + 59) / 60) + " min";
  return std::to_string((s + 3599) / 3600) + " h";
}

Decision not_now(std::string reason, std::int64_t retry_at_ms = 0) {
  Decision d;
  d.reason = std::move(reason);
  d.retry_at_ms = retry_at_ms;
  return d;
}

bool runs_before(const Goal& a, const Goal& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.created_ms != b.created_ms) return a.created_ms < b.created_ms;
  return a.id < b.id;
}

}  // namespace

AutonomyPolicy::AutonomyPolicy(const MotivatorConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {}

std::int64_t AutonomyPolicy::deadline_ms(std::int64_t started_ms) const {
  return started_ms + config_.goal_deadline_seconds * 1000;
}

Decision AutonomyPolicy::decide(GoalStore& goals, const UserActivity& user) const {
  PolicyInputs in;
  in.user = user;
  in.queued = goals.list({GoalStatus::kQueued, 1000});
  in.running = goals.list({GoalStatus::kRunning, 100});
  in.recent_runs = goals.runs_since(clock_.now_ms() - kDayMs);
  return decide(in);
}

Decision AutonomyPolicy::decide(const PolicyInputs& in) const {
  const std::int64_t now = clock_.now_ms();
  if (!config_.autonomous) {
    return not_now("the autonomous loop is off ([motivator] autonomous = false)");
  }
  if (!in.running.empty()) {
    return not_now("goal " + std::to_string(in.running.front().id) +
                   " is running (one autonomous run at a time)");
  }
  if (in.user.busy) return not_now("a user's request is in progress");
  const std::int64_t idle_ms = config_.idle_seconds * 1000;
  if (in.user.last_ms > 0 && now - in.user.last_ms < idle_ms) {
    return not_now("not idle: the last user activity was " +
                       format_duration(now - in.user.last_ms) + " ago, and goals start after " +
                       std::to_string(config_.idle_seconds) +
                       " s without any ([motivator] idle_seconds)",
                   in.user.last_ms + idle_ms);
  }
  if (in.queued.empty()) return not_now("no goal is queued");
  const Goal& best = *std::min_element(in.queued.begin(), in.queued.end(), runs_before);
  if (std::optional<Decision> refused = refuse_for_limits(best, in, now)) return *refused;
  Decision d;
  d.goal = best;
  d.reason = "goal " + std::to_string(best.id) + " (" + std::string(goal_kind_name(best.kind)) +
             ", priority " + std::to_string(best.priority) + ") is the best of " +
             std::to_string(in.queued.size()) + " queued" +
             (best.run_id.empty() ? "" : "; its run " + best.run_id + " resumes");
  return d;
}

std::optional<Decision> AutonomyPolicy::refuse_for_limits(const Goal& best, const PolicyInputs& in,
                                                          std::int64_t now) const {
  // Goals started in the last hour (each counted once, from its first start in the hour), and
  // runs started in the last day. Resuming a run is not a new run; a goal already counted in
  // the hour does not count again.
  std::map<std::int64_t, std::int64_t> goal_first_start;
  std::vector<std::int64_t> day_starts;
  for (const GoalRun& r : in.recent_runs) {
    if (r.started_ms > now - kDayMs) day_starts.push_back(r.started_ms);
    if (r.started_ms <= now - kHourMs) continue;
    auto [it, inserted] = goal_first_start.emplace(r.goal_id, r.started_ms);
    if (!inserted) it->second = std::min(it->second, r.started_ms);
  }
  const bool new_run = best.run_id.empty();
  const auto runs_today = static_cast<std::int64_t>(day_starts.size());
  if (new_run && runs_today >= config_.max_autonomous_runs_per_day) {
    const std::int64_t oldest =
        day_starts.empty() ? 0 : *std::min_element(day_starts.begin(), day_starts.end());
    const std::int64_t retry = config_.max_autonomous_runs_per_day == 0 ? 0 : oldest + kDayMs;
    return not_now(
        "daily limit reached: " + std::to_string(runs_today) +
            " autonomous runs started in the last 24 hours ([motivator] "
            "max_autonomous_runs_per_day = " +
            std::to_string(config_.max_autonomous_runs_per_day) + ")" +
            (retry == 0 ? "" : "; the next may start in " + format_duration(retry - now)),
        retry);
  }
  const auto goals_this_hour = static_cast<std::int64_t>(goal_first_start.size());
  if (goal_first_start.count(best.id) == 0 && goals_this_hour >= config_.max_goals_per_hour) {
    std::int64_t oldest = now;
    for (const auto& [id, start] : goal_first_start) oldest = std::min(oldest, start);
    const std::int64_t retry = config_.max_goals_per_hour == 0 ? 0 : oldest + kHourMs;
    return not_now(
        "hourly limit reached: " + std::to_string(goals_this_hour) +
            " goals started in the last hour ([motivator] max_goals_per_hour = " +
            std::to_string(config_.max_goals_per_hour) + ")" +
            (retry == 0 ? "" : "; the next may start in " + format_duration(retry - now)),
        retry);
  }
  return std::nullopt;
}

}  // namespace a4ps::motive
