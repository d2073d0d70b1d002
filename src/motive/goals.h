// motive/goals: the goal queue, kept in state.db (`goals`, `goal_runs`, `motivator`;
// docs/formats/state-db.md, version 5). A goal is something A4PS means to do by itself: resolve
// a dissonance (synthesis), reflect on recent episodes (reflection), try again for a tool it
// could not build (capability), or a task a person queued (user). GoalStore creates goals,
// moves them through their statuses, records the runs they became, and holds the Motivator's
// place in the event log.
//
// Statuses: queued -> running -> done | failed; queued | running -> paused -> queued;
// queued | running | paused -> cancelled; expired is recorded at creation for a goal past the
// chain-depth limit. done, failed, cancelled and expired are final.
//
// Thread-safe: one recursive mutex guards the connection; it is held for SQLite I/O only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace a4ps::sql {
class Database;
class Query;
class Transaction;
}  // namespace a4ps::sql

namespace a4ps::motive {

enum class GoalKind { kSynthesis, kReflection, kCapability, kUser, kEvolve };
enum class GoalStatus { kQueued, kRunning, kPaused, kDone, kFailed, kCancelled, kExpired };

std::string_view goal_kind_name(GoalKind kind);
std::string_view goal_status_name(GoalStatus status);
// Throw kInvalidArgument naming the value and the allowed names.
GoalKind goal_kind_from_name(std::string_view name);
GoalStatus goal_status_from_name(std::string_view name);
// done, failed, cancelled, expired.
bool is_final(GoalStatus status);

struct Goal {
  std::int64_t id = 0;
  GoalKind kind = GoalKind::kUser;
  std::optional<std::int64_t> cause_event;  // the journal entry of the event that caused it
  std::string cause_topic;                  // its topic; "curiosity" for the timer, "" for user
  std::string theme;                        // goals merge by (kind, theme)
  std::string prompt;                       // the task its run is given
  nlohmann::json context = nlohmann::json::object();  // why it exists and what it knows
  int priority = 0;                                   // 0..100, higher first
  GoalStatus status = GoalStatus::kQueued;
  int attempts = 0;       // runs started for it (a resumed run is the same attempt)
  std::string thread_id;  // the latest run's thread and run; "" before the first
  std::string run_id;
  std::int64_t budget_tokens = 0;
  int chain_depth = 0;                      // 0: born of a user run, the timer or a person
  std::optional<std::int64_t> parent_goal;  // the goal whose run caused it
  int merged = 0;                           // causes merged into it after the first
  std::string result;                       // what it produced, or why it failed or expired
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;

  nlohmann::json to_json() const;
};

struct NewGoal {
  GoalKind kind = GoalKind::kUser;
  std::optional<std::int64_t> cause_event;
  std::string cause_topic;
  std::string theme;
  std::string prompt;
  nlohmann::json context = nlohmann::json::object();
  int priority = 50;
  std::int64_t budget_tokens = 0;
  int chain_depth = 0;
  std::optional<std::int64_t> parent_goal;
  GoalStatus status = GoalStatus::kQueued;  // kQueued, or kExpired (with `result` saying why)
  std::string result;
};

// One run a goal became.
struct GoalRun {
  std::int64_t goal_id = 0;
  int attempt = 0;  // 1, 2, ...
  std::string thread_id;
  std::string run_id;
  std::int64_t started_ms = 0;
  std::optional<std::int64_t> finished_ms;
  std::string outcome;  // "" while it goes on; done, failed, cancelled, paused, requeued
};

struct GoalFilter {
  std::optional<GoalStatus> status;
  int limit = 100;
};

// Goals by status, the runs goals became, and how long goals waited for their first run.
struct GoalFigures {
  std::vector<std::pair<GoalStatus, std::int64_t>> by_status;  // every status, in enum order
  std::int64_t runs = 0;                                       // goal runs, all attempts
  std::int64_t first_runs = 0;
  double waited_seconds = 0;  // summed over first runs: from the goal's creation to the run
};

// The Motivator's place: the last journal entry it consumed and when curiosity last fired.
struct MotivatorCursor {
  std::int64_t event_cursor = 0;
  std::int64_t curiosity_ms = 0;  // 0: the timer has not started
};

class GoalStore {
 public:
  // Opens the goal tables of an image's state.db, which must be migrated already (Image::open
  // or Checkpointer::open does it). Throws kUnavailable (cannot open), kFailedPrecondition (a
  // schema without goals). Times come from `clock`, which must outlive the store.
  static std::unique_ptr<GoalStore> open(const std::filesystem::path& state_db,
                                         const Clock& clock = system_clock());
  ~GoalStore();

  // Stores a new goal (queued, or expired when `goal.status` says so). Throws kInvalidArgument
  // for an empty prompt or theme, a priority outside 0..100, or another status.
  Goal create(const NewGoal& goal);
  std::optional<Goal> find(std::int64_t id);
  Goal get(std::int64_t id);  // throws kNotFound: "goal 42: no such goal"
  // Queued goals in the order they would run: priority, then age. Otherwise newest first.
  std::vector<Goal> list(const GoalFilter& filter = {});
  // Goals created or changed after (updated_ms, id) `after`, in the order they changed, at most
  // `limit`: what an observer (the API's goal stream) has not seen yet.
  std::vector<Goal> changed_after(std::int64_t updated_ms, std::int64_t id, int limit = 200);
  // The figures /metrics shows, each one query however many goals there are.
  GoalFigures figures();
  // The open (queued or paused) goal of this kind and theme, if any: where a cause merges.
  std::optional<Goal> find_open(GoalKind kind, const std::string& theme);
  // The goal one of whose runs was `run_id`, if any.
  std::optional<Goal> goal_of_run(const std::string& run_id);
  // Rewrites an open goal after a cause merged into it: prompt, context, priority, merged+1.
  Goal merge(std::int64_t id, const std::string& prompt, const nlohmann::json& context,
             int priority);

  // Status changes. Each returns the goal as stored; an unknown id is kNotFound, a change its
  // status does not allow is kFailedPrecondition naming the status and what is allowed.
  Goal pause(std::int64_t id);   // queued | running -> paused (paused: unchanged)
  Goal resume(std::int64_t id);  // paused -> queued (queued: unchanged)
  Goal cancel(std::int64_t id);  // queued | running | paused -> cancelled
  // queued -> running as this run. A run id new to the goal is a new attempt; the same run
  // again (resumed after a pause or a pre-emption) is not.
  Goal mark_running(std::int64_t id, const std::string& thread_id, const std::string& run_id);
  // running -> queued: a user pre-empted it; its run stays resumable and is resumed next time.
  Goal requeue(std::int64_t id);
  Goal mark_done(std::int64_t id, const std::string& result);    // running -> done
  Goal mark_failed(std::int64_t id, const std::string& reason);  // queued | running -> failed

  std::vector<GoalRun> runs_of(std::int64_t goal_id);
  // Every goal run started at or after `since_ms`, oldest first (the policy's rate limits).
  std::vector<GoalRun> runs_since(std::int64_t since_ms);

  MotivatorCursor cursor();
  void set_event_cursor(std::int64_t event_id);
  void set_curiosity_ms(std::int64_t ms);

  // Groups the calls this thread makes while it lives into one transaction (other threads
  // wait): the Motivator's goal changes and its cursor advance commit together, or not at all.
  class Batch {
   public:
    explicit Batch(GoalStore& store);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    void commit();

   private:
    std::unique_lock<std::recursive_mutex> lock_;
    std::unique_ptr<sql::Transaction> txn_;
  };

 private:
  GoalStore(std::unique_ptr<sql::Database> db, const Clock& clock);
  std::optional<Goal> find_locked(std::int64_t id);
  Goal get_locked(std::int64_t id);
  Goal set_status(std::int64_t id, GoalStatus to, std::string_view verb,
                  std::initializer_list<GoalStatus> allowed, const std::string& result = {});
  void finish_attempt(const Goal& goal, std::string_view outcome);
  using Binder = std::function<void(sql::Query&)>;
  std::vector<Goal> query(const std::string& where, const std::string& order, const Binder& bind,
                          std::int64_t limit);
  std::vector<GoalRun> query_runs(const std::string& where, std::int64_t value);

  const Clock& clock_;
  std::recursive_mutex mu_;            // recursive so that a Batch's thread can make its calls
  std::unique_ptr<sql::Database> db_;  // guarded by mu_
};

}  // namespace a4ps::motive
