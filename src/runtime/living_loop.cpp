#include "runtime/living_loop.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "graph/runner.h"
#include "persona/workflow.h"
#include "runtime/runtime.h"

namespace a4ps::runtime {
namespace {

using motive::Goal;
using motive::GoalKind;
using motive::GoalStatus;
using nlohmann::json;

constexpr size_t kResultChars = 500;  // of a goal's answer, in its result summary
// The loop wakes at least this often to read new events: the bus fires before a run's event
// is committed (motive/motivator.h), and another writer may have queued a goal.
constexpr std::int64_t kPollEveryMs = 60'000;

std::string thread_for(const Goal& goal) {
  return "goal-" + std::to_string(goal.id) + "-" + std::to_string(goal.attempts + 1);
}

// The goal's context as BABS's one document: why the goal exists and what it knows.
std::vector<persona::Document> goal_documents(const Goal& goal) {
  if (goal.context.empty()) return {};
  return {{"goal " + std::to_string(goal.id) + " (" +
               std::string(motive::goal_kind_name(goal.kind)) + ")",
           goal.context.dump(2)}};
}

std::string summary_of(const json& state) {
  const std::string answer = state.value("answer", json()).is_string()
                                 ? state["answer"].get<std::string>()
                                 : std::string();
  return utf8_prefix(answer, kResultChars);
}

}  // namespace

LivingLoop::LivingLoop(Runtime& runtime, const Clock& clock)
    : runtime_(runtime),
      clock_(clock),
      goals_(motive::GoalStore::open(runtime.image().state_db_path(), clock)),
      policy_(runtime.config().motivator, clock),
      motivator_(std::make_unique<motive::Motivator>(runtime.config().motivator,
                                                     runtime.checkpointer(), *goals_)) {
  user_last_ms_ = clock_.now_ms();  // opening counts as activity: no goal starts at once
  // This process holds the image's lock, so a goal still marked running is a crash's.
  requeue_orphaned_goals();
}

motive::Goal LivingLoop::add_user_goal(const std::string& prompt, int priority,
                                       const json& context) {
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid_argument("the goal's prompt is empty; say what A4PS should work on");
  }
  motive::NewGoal goal;
  goal.kind = GoalKind::kUser;
  goal.prompt = prompt;
  goal.theme = motive::theme_of("user", prompt);
  goal.priority = priority;
  goal.context = context;
  goal.budget_tokens = runtime_.config().motivator.goal_budget_tokens;
  return goals_->create(goal);
}

LivingLoop::~LivingLoop() {
  stop();
}

void LivingLoop::start() {
  std::lock_guard lock(mu_);
  if (thread_) return;
  if (!runtime_.config().motivator.autonomous) {
    why_off_ = "[motivator] autonomous = false in " + runtime_.config().source +
               ": goals are queued and shown, and run only when a person asks (a4ps goals "
               "run-next)";
    return;
  }
  why_off_.clear();
  thread_.emplace([this](std::stop_token stop) { loop(stop); });
}

void LivingLoop::stop() {
  std::optional<std::jthread> thread;
  {
    std::lock_guard lock(mu_);
    thread = std::move(thread_);
    thread_.reset();
    preempt_.request_stop();
    if (why_off_.empty()) why_off_ = "stopped";
  }
  if (thread) {
    thread->request_stop();
    wake_.notify_all();
    thread->join();
  }
}

void LivingLoop::user_started() {
  std::lock_guard lock(mu_);
  ++user_runs_;
  user_last_ms_ = clock_.now_ms();
  if (running_) preempt_.request_stop();
}

void LivingLoop::user_finished() {
  {
    std::lock_guard lock(mu_);
    user_runs_ = std::max(0, user_runs_ - 1);
    user_last_ms_ = clock_.now_ms();
  }
  wake_.notify_all();
}

json LivingLoop::status() {
  std::lock_guard lock(mu_);
  json out = {{"on", thread_.has_value()},
              {"why", thread_ ? "running" : why_off_},
              {"running", running_ ? json(*running_) : json()},
              {"next_check_ms", next_check_ms_ > 0 ? json(next_check_ms_) : json()}};
  if (!thread_ && why_off_.empty()) out["why"] = "not started";
  return out;
}

void LivingLoop::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    LoopPass pass;
    try {
      pass = run_once(false);
    } catch (const Error& e) {
      log::warn(std::string("the living loop's pass failed (it tries again): ") + e.what());
    }
    if (pass.goal) continue;  // something ran: look again at once
    const std::int64_t now = clock_.now_ms();
    std::int64_t until = now + kPollEveryMs;
    if (pass.retry_at_ms > now) until = std::min(until, pass.retry_at_ms);
    std::unique_lock lock(mu_);
    next_check_ms_ = until;
    wake_.wait_for(lock, stop, std::chrono::milliseconds(std::max<std::int64_t>(until - now, 1)),
                   [] { return false; });
  }
}

motive::PollResult LivingLoop::poll() {
  std::lock_guard pass_lock(pass_mu_);
  motive::PollResult result = motivator_->poll(clock_.now_ms());
  for (const motive::GoalChange& change : result.changes) {
    log::info("goal " + std::to_string(change.goal.id) + " " +
              std::string(motive::goal_change_name(change.what)) + ": " + change.why);
  }
  return result;
}

LoopPass LivingLoop::run_once(bool force) {
  LoopPass pass;
  pass.poll = poll();
  std::lock_guard pass_lock(pass_mu_);
  motive::UserActivity user;
  {
    std::lock_guard lock(mu_);
    user = {user_last_ms_, user_runs_ > 0};
  }
  std::optional<Goal> goal;
  if (force) {
    const auto queued = goals_->list({GoalStatus::kQueued, 1});
    if (queued.empty()) {
      pass.reason = "no goal is queued";
      return pass;
    }
    goal = queued.front();
    pass.reason = "a person asked for the next goal";
  } else {
    const motive::Decision decision = policy_.decide(*goals_, user);
    pass.reason = decision.reason;
    pass.retry_at_ms = decision.retry_at_ms;
    goal = decision.goal;
  }
  if (!goal) return pass;
  std::stop_source preempt;
  {
    std::lock_guard lock(mu_);
    preempt_ = preempt;
    running_ = goal->id;
  }
  std::string outcome;
  try {
    pass.goal = run_goal(*goal, preempt.get_token(), &outcome);
  } catch (...) {
    std::lock_guard lock(mu_);
    running_.reset();
    throw;
  }
  pass.outcome = outcome;
  log::info("goal " + std::to_string(goal->id) + " " + outcome +
            (pass.goal->result.empty() ? "" : ": " + utf8_prefix(pass.goal->result, 200)));
  std::lock_guard lock(mu_);
  running_.reset();
  return pass;
}

Goal LivingLoop::run_goal(Goal goal, std::stop_token stop, std::string* outcome) {
  const graph::CompiledGraph workflow = runtime_.graph(std::string(persona::kWorkflowGraphName));
  graph::RunOptions run = runtime_.run_options();
  const std::int64_t id = goal.id;
  const bool resuming = !goal.run_id.empty() && runtime_.checkpointer().find_thread(goal.thread_id);
  std::stop_source deadline;
  std::stop_callback on_stop(stop, [&deadline] { deadline.request_stop(); });
  run.cancel = deadline.get_token();
  const std::int64_t stop_at = policy_.deadline_ms(clock_.now_ms());
  run.on_event = [this, id, &deadline, stop_at](const graph::EventRecord& e) {
    if (e.kind == "run_started") {
      const json thread = e.data.value("thread", json());
      goals_->mark_running(id, thread.is_string() ? thread.get<std::string>() : "", e.run_id);
    }
    if (clock_.now_ms() >= stop_at) deadline.request_stop();
    // A person paused or cancelled the goal (another process, or the API): stop at the next
    // step. Read at step boundaries only, not for every token.
    if (e.kind == "node_finished" && goals_->get(id).status != GoalStatus::kRunning) {
      deadline.request_stop();
    }
    if (sink_) sink_(e);
  };
  log::info("goal " + std::to_string(id) + " (" + std::string(motive::goal_kind_name(goal.kind)) +
            ") " + (resuming ? "resumes on thread " + goal.thread_id : "starts") + ": " +
            utf8_prefix(goal.prompt, 120));
  graph::RunResult result;
  try {
    result =
        resuming
            ? graph::resume_run(workflow, runtime_.checkpointer(), goal.thread_id, {}, run)
            : graph::start_run(workflow, runtime_.checkpointer(), thread_for(goal),
                               persona::workflow_input(goal.prompt, goal_documents(goal)), run);
  } catch (const Error& e) {
    *outcome = "failed";
    return goals_->mark_failed(id, std::string("its run could not start: ") + e.what());
  }
  const Goal now = goals_->get(id);
  if (result.status == graph::RunStatus::kDone) {
    keep_what_it_produced(now, result.state);
    *outcome = "done";
    return goals_->mark_done(id, summary_of(result.state));
  }
  if (result.status == graph::RunStatus::kCancelled) {
    if (clock_.now_ms() >= stop_at) {
      *outcome = "failed";
      return goals_->mark_failed(
          id,
          "stopped at its deadline ([motivator] goal_deadline_seconds "
          "= " +
              std::to_string(runtime_.config().motivator.goal_deadline_seconds) + "); its run " +
              result.run_id + " stays resumable");
    }
    if (now.status == GoalStatus::kRunning) {
      *outcome = "requeued";
      return goals_->requeue(id);  // a user came, or the loop stops: resumed later
    }
    *outcome = std::string(motive::goal_status_name(now.status));  // paused or cancelled
    return now;
  }
  *outcome = "failed";
  const std::string why =
      result.status == graph::RunStatus::kError
          ? "run " + result.run_id + " failed at " + result.failed_node + ": " + result.error
          : "run " + result.run_id + " ended " + std::string(graph::run_status_name(result.status));
  if (now.status != GoalStatus::kRunning && now.status != GoalStatus::kQueued) return now;
  return goals_->mark_failed(id, why);
}

// A goal left `running` by a crash is queued again with its run: the next pass that picks it
// resumes that run from its checkpoint (resume_run), so it is neither duplicated nor started
// over, and nothing it journaled is asked of a model again.
void LivingLoop::requeue_orphaned_goals() {
  for (const Goal& goal : goals_->list({GoalStatus::kRunning, 100})) {
    goals_->requeue(goal.id);
    log::info("goal " + std::to_string(goal.id) + " was running when the process ended; queued " +
              "again, its run " + goal.run_id + " resumes on thread " + goal.thread_id);
  }
}

void LivingLoop::keep_what_it_produced(const Goal& goal, const json& state) {
  if (goal.kind != GoalKind::kReflection && goal.kind != GoalKind::kSynthesis) return;
  const json answer = state.value("answer", json());
  if (!answer.is_string() || answer.get<std::string>().empty()) return;
  memory::NewMemory m;
  m.text = answer.get<std::string>();
  m.namespace_path = "insights/goal-" + std::to_string(goal.id);
  m.source_kind = "insight";
  m.source = goal.run_id;
  m.metadata = {{"goal", goal.id}, {"kind", motive::goal_kind_name(goal.kind)}};
  // A synthesis is linked to the episode whose dissonance it resolves.
  if (goal.context.contains("episode")) m.metadata["resolves"] = goal.context["episode"];
  m.importance = 0.7;
  try {
    runtime_.memory().add(m);
  } catch (const Error& e) {
    log::warn("goal " + std::to_string(goal.id) +
              ": its answer could not be remembered: " + e.what());
  }
}

}  // namespace a4ps::runtime
