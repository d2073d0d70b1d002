// motive/policy: bounded autonomy. AutonomyPolicy answers the autonomous loop's one question,
// "may a goal start now, and which?", from [motivator] (autonomous, idle_seconds,
// max_goals_per_hour, max_autonomous_runs_per_day), the user's activity and the goal runs of
// the last day: the best queued goal (priority, then age), or "not now" with a reason a person
// can read and the time when asking again may give another answer (so the loop sleeps instead
// of polling). It decides; it starts nothing.
//
// Thread-safe: decide() reads only its arguments, the configuration and the clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "motive/goals.h"

namespace a4ps::motive {

struct UserActivity {
  std::int64_t last_ms = 0;  // the last user request, or the end of the last user run
  bool busy = false;         // a user's request or run is in progress
};

struct PolicyInputs {
  UserActivity user;
  std::vector<Goal> queued;          // in any order
  std::vector<Goal> running;         // goals running now (the loop runs one at a time)
  std::vector<GoalRun> recent_runs;  // goal runs started in the last 24 hours
};

struct Decision {
  std::optional<Goal> goal;  // set: start this goal now (resume its run when it has one)
  std::string reason;        // why this goal, or why none may start now
  // When asking again may change the answer (Unix ms); 0: not before something else changes
  // (a goal is queued or finishes, the user is active, the configuration changes).
  std::int64_t retry_at_ms = 0;

  bool may_start() const { return goal.has_value(); }
};

class AutonomyPolicy {
 public:
  // `clock` must outlive the policy.
  AutonomyPolicy(const MotivatorConfig& config, const Clock& clock);

  Decision decide(const PolicyInputs& inputs) const;
  // The same, with the goals and their runs read from `goals`.
  Decision decide(GoalStore& goals, const UserActivity& user) const;

  // When a goal run started at `started_ms` must be stopped ([motivator] goal_deadline_seconds).
  std::int64_t deadline_ms(std::int64_t started_ms) const;

 private:
  std::optional<Decision> refuse_for_limits(const Goal& best, const PolicyInputs& in,
                                            std::int64_t now) const;

  // Constant after construction.
  const MotivatorConfig config_;
  const Clock& clock_;
};

}  // namespace a4ps::motive
