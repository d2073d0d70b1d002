#include "runtime/living_loop.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "graph/runner.h"
#include "persona/capability.h"
#include "persona/workflow.h"
#include "runtime/evolve_goal.h"
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
  runtime_.evolve();  // made here, before any thread polls (Runtime's parts are not thread-safe)
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
    look_now_ = true;  // the run's dissonance becomes a goal now, not at the next timed look
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
                   [this] { return look_now_; });
    look_now_ = false;
  }
}

motive::PollResult LivingLoop::poll() {
  std::lock_guard motivator_lock(motivator_mu_);
  motive::PollResult result = motivator_->poll(clock_.now_ms());
  for (const motive::GoalChange& change : result.changes) {
    log::info("goal " + std::to_string(change.goal.id) + " " +
              std::string(motive::goal_change_name(change.what)) + ": " + change.why);
  }
  for (const Goal& g : queue_evolve_goals(*goals_, runtime_.evolve(), runtime_.config())) {
    log::info("goal " + std::to_string(g.id) + " created: " + g.prompt);
    result.changes.push_back({motive::GoalChange::What::kCreated, g, "golden turns"});
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
  try {
    runtime_.check_models_reachable();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnavailable || force) throw;  // a person asked: say so
    // The goal waits, queued, for the server rather than failing for it.
    pass.reason = std::string("goal ") + std::to_string(goal->id) + " waits: " + e.what();
    pass.retry_at_ms = clock_.now_ms() + kPollEveryMs;
    log::warn(pass.reason);
    return pass;
  }
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

// The graph a goal runs as, and its input: a capability goal forges its tool again
// (persona/capability.h), an evolve goal runs the strategic loop for its persona
// (runtime/evolve_goal.h); every other goal is a workflow run on its prompt.
std::pair<graph::CompiledGraph, json> LivingLoop::graph_for(const Goal& goal) {
  if (goal.kind == GoalKind::kCapability) {
    if (!runtime_.config().tools.forge) {
      throw Error(
          ErrorCode::kFailedPrecondition,
          "the Tool Forge is off ([tools] forge = false in " + runtime_.config().source + ")");
    }
    const auto text = [&goal](const char* key) {
      const json v = goal.context.value(key, json());
      return v.is_string() ? v.get<std::string>() : std::string();
    };
    return {runtime_.graph(std::string(persona::kCapabilityGraphName)),
            persona::capability_input(goal.prompt, text("capability"), text("name"))};
  }
  if (goal.kind == GoalKind::kEvolve) {
    const json persona = goal.context.value("persona", json());
    if (!persona.is_string())
      throw_invalid_argument("an evolve goal needs a persona in its context");
    return {runtime_.graph(std::string(kEvolveGraphName)),
            evolve_input(persona.get<std::string>())};
  }
  return {runtime_.graph(std::string(persona::kWorkflowGraphName)),
          persona::workflow_input(goal.prompt, goal_documents(goal))};
}

Goal LivingLoop::run_goal(Goal goal, std::stop_token stop, std::string* outcome) {
  const std::int64_t id = goal.id;
  const bool resuming = !goal.run_id.empty() && runtime_.checkpointer().find_thread(goal.thread_id);
  std::stop_source halt;  // the deadline, the budget, a person's pause or cancel, or `stop`
  std::stop_callback on_stop(stop, [&halt] { halt.request_stop(); });
  GoalWatch watch{policy_.deadline_ms(clock_.now_ms()), goal.budget_tokens, 0,
                  resuming ? goal.thread_id : thread_for(goal)};
  graph::RunOptions run = runtime_.run_options();
  run.cancel = halt.get_token();
  run.on_event = [this, id, &halt, &watch](const graph::EventRecord& e) {
    if (e.kind == "run_started") {
      const json thread = e.data.value("thread", json());
      goals_->mark_running(id, thread.is_string() ? thread.get<std::string>() : "", e.run_id);
    }
    // Read at step boundaries only, not for every token.
    if (clock_.now_ms() >= watch.stop_at_ms || (e.kind == "node_finished" && over(id, watch))) {
      halt.request_stop();
    }
    if (sink_) sink_(e);
  };
  log::info("goal " + std::to_string(id) + " (" + std::string(motive::goal_kind_name(goal.kind)) +
            ") " + (resuming ? "resumes on thread " + goal.thread_id : "starts") + ": " +
            utf8_prefix(goal.prompt, 120));
  graph::RunResult result;
  try {
    auto [graph, input] = graph_for(goal);
    result = resuming ? graph::resume_run(graph, runtime_.checkpointer(), goal.thread_id, {}, run)
                      : graph::start_run(graph, runtime_.checkpointer(), watch.thread, input, run);
  } catch (const Error& e) {
    *outcome = "failed";
    return goals_->mark_failed(id, std::string("its run could not start: ") + e.what());
  }
  return settle(id, result, watch, outcome);
}

// Whether the goal's run must stop at this step: a person paused or cancelled the goal (from
// another process, or the API), or its model calls spent more than its budget.
bool LivingLoop::over(std::int64_t id, GoalWatch& watch) {
  if (goals_->get(id).status != GoalStatus::kRunning) return true;
  if (watch.budget_tokens <= 0) return false;
  watch.spent_tokens = runtime_.checkpointer().journal_total(watch.thread, "model",
                                                             {"prompt_tokens", "generated_tokens"});
  return watch.spent_tokens > watch.budget_tokens;
}

// The goal after its run ended: done, failed (why), requeued (a user came, or the loop
// stops: resumed later), or as a person left it (paused, cancelled).
Goal LivingLoop::settle(std::int64_t id, const graph::RunResult& result, const GoalWatch& watch,
                        std::string* outcome) {
  const Goal now = goals_->get(id);
  *outcome = "failed";
  if (result.status == graph::RunStatus::kDone) {
    const json forge = result.state.value("forge", json());
    if (now.kind == GoalKind::kCapability &&
        !(forge.is_object() && forge.value("created", false))) {
      return goals_->mark_failed(id, summary_of(result.state));
    }
    keep_what_it_produced(now, result.state);
    *outcome = "done";
    return goals_->mark_done(id, summary_of(result.state));
  }
  const std::string resumable = "; its run " + result.run_id + " stays resumable";
  if (result.status == graph::RunStatus::kCancelled) {
    if (clock_.now_ms() >= watch.stop_at_ms) {
      return goals_->mark_failed(
          id, "stopped at its deadline ([motivator] goal_deadline_seconds = " +
                  std::to_string(runtime_.config().motivator.goal_deadline_seconds) + ")" +
                  resumable);
    }
    if (now.status == GoalStatus::kRunning && watch.budget_tokens > 0 &&
        watch.spent_tokens > watch.budget_tokens) {
      return goals_->mark_failed(
          id, "stopped when its model calls had used " + std::to_string(watch.spent_tokens) +
                  " tokens, over its budget of " + std::to_string(watch.budget_tokens) +
                  " ([motivator] goal_budget_tokens)" + resumable);
    }
    if (now.status == GoalStatus::kRunning) {
      *outcome = "requeued";
      return goals_->requeue(id);
    }
    *outcome = std::string(motive::goal_status_name(now.status));  // paused or cancelled
    return now;
  }
  const std::string why =
      result.status == graph::RunStatus::kError
          ? "run " + result.run_id + " failed at " + result.failed_node + ": " + result.error
          : "run " + result.run_id + " ended " + std::string(graph::run_status_name(result.status));
  if (now.status != GoalStatus::kRunning && now.status != GoalStatus::kQueued) {
    *outcome = std::string(motive::goal_status_name(now.status));
    return now;
  }
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
