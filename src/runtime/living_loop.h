// runtime/living_loop: the autonomous loop. It turns what runs published into goals (the
// Motivator), asks the autonomy policy whether a goal may start, and runs the one it picks as
// an ordinary workflow run on a thread of its own: the goal's prompt is the task, its context
// BABS's document. What a finished goal produced is kept: a reflection's or a synthesis's
// answer becomes an `insight` memory that later runs' BABS can cite (linked to the episode a
// synthesis resolves), and the goal's result holds its summary.
//
// Bounded and stoppable: [motivator] autonomous switches it on, the policy's idleness and rate
// limits hold it back, a goal's run is stopped at goal_deadline_seconds, a user's request
// (user_started) stops the autonomous run at its next step and requeues the goal, whose run is
// resumed later, never restarted, and so is a goal whose run a crash left behind.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "core/clock.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "graph/state_graph.h"
#include "motive/goals.h"
#include "motive/motivator.h"
#include "motive/policy.h"

namespace a4ps::runtime {

class Runtime;

// What one pass of the loop did.
struct LoopPass {
  motive::PollResult poll;
  std::optional<motive::Goal> goal;  // the goal it ran (as stored afterwards), if any
  std::string outcome;               // done, failed, requeued, paused, cancelled; "" for none
  std::string reason;                // the policy's reason: why this goal, or why none
  std::int64_t retry_at_ms = 0;      // the policy's next moment worth asking again (0: none)
};

class LivingLoop {
 public:
  // `runtime` (which holds the image's lock) and `clock` must outlive the loop. A goal that a
  // crash left `running` is queued again here, with its run: the pass that picks it next
  // resumes that run from its checkpoint rather than starting it over.
  explicit LivingLoop(Runtime& runtime, const Clock& clock = system_clock());
  ~LivingLoop();  // stop()
  LivingLoop(const LivingLoop&) = delete;
  LivingLoop& operator=(const LivingLoop&) = delete;

  // Starts the loop's thread, when [motivator] autonomous is on (otherwise does nothing:
  // status() says why).
  void start();
  // Stops the running goal's run at its next step (the goal is requeued, its run resumable)
  // and joins the thread. Idempotent.
  void stop();

  // A user's request or run began / ended. While one is in progress no goal starts, and a
  // goal running when one begins is stopped at its next step and requeued. When one ends, the
  // loop's thread looks at once for the goals its events make.
  void user_started();
  void user_finished();

  // One pass on the caller's thread: new events become goals, then the goal the policy picks
  // runs to its end. `force` runs the best queued goal whatever the policy says about
  // idleness and limits (a person asked: `a4ps goals run-next`).
  LoopPass run_once(bool force = false);

  // Turns the events stored since the last poll into goals (the Motivator), and nothing more:
  // a front end calls it after a user's run, so that run's dissonance is a goal at once.
  motive::PollResult poll();

  // {"on": bool, "why": "...", "running": goal id or null, "next_check_ms": ...}
  nlohmann::json status();

  motive::GoalStore& goals() { return *goals_; }
  // Queues a goal of a person's own (kind user, themed by its text, with [motivator]
  // goal_budget_tokens). Throws kInvalidArgument for an empty prompt or a priority outside
  // 0..100.
  motive::Goal add_user_goal(const std::string& prompt, int priority,
                             const nlohmann::json& context = nlohmann::json::object());
  // Every event of the goals' runs, as RunOptions::on_event (a front end's transcript); set
  // before start() or run_once().
  void on_event(std::function<void(const graph::EventRecord&)> sink) { sink_ = std::move(sink); }

 private:
  // What stops a goal's run besides a person and the loop: its deadline and token budget.
  struct GoalWatch {
    std::int64_t stop_at_ms = 0;
    std::int64_t budget_tokens = 0;  // 0: none
    std::int64_t spent_tokens = 0;   // by its run's model calls, as last counted
    std::string thread;              // the run's thread
  };

  void loop(std::stop_token stop);
  std::pair<graph::CompiledGraph, nlohmann::json> graph_for(const motive::Goal& goal);
  motive::Goal run_goal(motive::Goal goal, std::stop_token stop, std::string* outcome);
  bool over(std::int64_t id, GoalWatch& watch);
  motive::Goal settle(std::int64_t id, const graph::RunResult& result, const GoalWatch& watch,
                      std::string* outcome);
  void requeue_orphaned_goals();
  void keep_what_it_produced(const motive::Goal& goal, const nlohmann::json& state);

  // Constant after construction.
  Runtime& runtime_;
  const Clock& clock_;
  std::unique_ptr<motive::GoalStore> goals_;
  motive::AutonomyPolicy policy_;
  std::function<void(const graph::EventRecord&)> sink_;

  std::mutex pass_mu_;  // one pass at a time (the loop's thread, or run_once from a person)
  // Its own lock, not pass_mu_: a poll (after a user's run, or an API look) must not wait for
  // the goal run a pass holds pass_mu_ through.
  std::mutex motivator_mu_;
  std::unique_ptr<motive::Motivator> motivator_;  // guarded by motivator_mu_

  std::mutex mu_;
  std::condition_variable_any wake_;
  int user_runs_ = 0;                    // guarded by mu_
  std::int64_t user_last_ms_ = 0;        // guarded by mu_
  std::optional<std::int64_t> running_;  // guarded by mu_: the goal whose run goes on
  std::stop_source preempt_;             // guarded by mu_: stops the running goal's run
  std::string why_off_;                  // guarded by mu_
  std::int64_t next_check_ms_ = 0;       // guarded by mu_
  bool look_now_ = false;                // guarded by mu_: a user's run ended; poll at once
  std::optional<std::jthread> thread_;   // guarded by mu_
};

}  // namespace a4ps::runtime
