#include "motive/goals.h"

#include <algorithm>
#include <array>

#include "core/error.h"
#include "core/json_text.h"
#include "image/sqlite.h"

namespace a4ps::motive {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kKindNames = {"synthesis", "reflection", "capability",
                                                        "user", "evolve"};
constexpr std::array<std::string_view, 7> kStatusNames = {"queued", "running",   "paused", "done",
                                                          "failed", "cancelled", "expired"};

constexpr const char* kGoalColumns =
    "id, kind, cause_event, cause_topic, theme, prompt, context, priority, status, attempts,"
    " thread_id, run_id, budget_tokens, chain_depth, parent_goal, merged, result, created_ms,"
    " updated_ms";

template <size_t N>
std::string joined(const std::array<std::string_view, N>& names) {
  std::string out;
  for (size_t i = 0; i < N; ++i) out += (i == 0 ? "" : ", ") + std::string(names[i]);
  return out;
}

std::optional<std::int64_t> optional_int(const sql::Query& q, int column) {
  if (q.is_null(column)) return std::nullopt;
  return q.int64(column);
}

Goal goal_from_row(const sql::Query& q) {
  Goal g;
  g.id = q.int64(0);
  g.kind = goal_kind_from_name(q.text(1));
  g.cause_event = optional_int(q, 2);
  g.cause_topic = q.text(3);
  g.theme = q.text(4);
  g.prompt = q.text(5);
  g.context = json::parse(q.text(6), nullptr, false);
  if (g.context.is_discarded()) g.context = json::object();
  g.priority = static_cast<int>(q.int64(7));
  g.status = goal_status_from_name(q.text(8));
  g.attempts = static_cast<int>(q.int64(9));
  g.thread_id = q.text(10);
  g.run_id = q.text(11);
  g.budget_tokens = q.int64(12);
  g.chain_depth = static_cast<int>(q.int64(13));
  g.parent_goal = optional_int(q, 14);
  g.merged = static_cast<int>(q.int64(15));
  g.result = q.text(16);
  g.created_ms = q.int64(17);
  g.updated_ms = q.int64(18);
  return g;
}

// "a queued or running goal", "a paused goal".
std::string describe_allowed(std::initializer_list<GoalStatus> allowed) {
  std::string out;
  size_t i = 0;
  for (const GoalStatus s : allowed) {
    out += i == 0 ? "" : (i + 1 == allowed.size() ? " or " : ", ");
    out += goal_status_name(s);
    ++i;
  }
  return "only a " + out + " goal";
}

void check_priority(int priority) {
  if (priority < 0 || priority > 100) {
    throw_invalid_argument("goal priority " + std::to_string(priority) +
                           ": must be an integer from 0 to 100");
  }
}

}  // namespace

std::string_view goal_kind_name(GoalKind kind) {
  return kKindNames[static_cast<size_t>(kind)];
}

std::string_view goal_status_name(GoalStatus status) {
  return kStatusNames[static_cast<size_t>(status)];
}

GoalKind goal_kind_from_name(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<GoalKind>(i);
  }
  throw_invalid_argument("goal kind \"" + std::string(name) + "\": must be one of " +
                         joined(kKindNames));
}

GoalStatus goal_status_from_name(std::string_view name) {
  for (size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == name) return static_cast<GoalStatus>(i);
  }
  throw_invalid_argument("goal status \"" + std::string(name) + "\": must be one of " +
                         joined(kStatusNames));
}

bool is_final(GoalStatus status) {
  return status == GoalStatus::kDone || status == GoalStatus::kFailed ||
         status == GoalStatus::kCancelled || status == GoalStatus::kExpired;
}

json Goal::to_json() const {
  return {{"id", id},
          {"kind", goal_kind_name(kind)},
          {"cause_event", cause_event ? json(*cause_event) : json()},
          {"cause_topic", cause_topic},
          {"theme", theme},
          {"prompt", prompt},
          {"context", context},
          {"priority", priority},
          {"status", goal_status_name(status)},
          {"attempts", attempts},
          {"thread", thread_id},
          {"run", run_id},
          {"budget_tokens", budget_tokens},
          {"chain_depth", chain_depth},
          {"parent_goal", parent_goal ? json(*parent_goal) : json()},
          {"merged", merged},
          {"result", result},
          {"created_ms", created_ms},
          {"updated_ms", updated_ms}};
}

GoalStore::GoalStore(std::unique_ptr<sql::Database> db, const Clock& clock)
    : clock_(clock), db_(std::move(db)) {}

GoalStore::~GoalStore() = default;

std::unique_ptr<GoalStore> GoalStore::open(const std::filesystem::path& state_db,
                                           const Clock& clock) {
  auto db = sql::Database::open(state_db.string());
  bool has_goals = false;
  {
    auto q =
        db->prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'goals'");
    has_goals = q.step() && q.int64(0) > 0;
  }
  if (!has_goals) {
    throw Error(ErrorCode::kFailedPrecondition,
                state_db.string() +
                    ": has no goals table (schema older than 5); open the image to migrate it");
  }
  return std::unique_ptr<GoalStore>(new GoalStore(std::move(db), clock));
}

Goal GoalStore::create(const NewGoal& goal) {
  if (goal.prompt.empty()) throw_invalid_argument("a goal needs a prompt (the task it runs)");
  if (goal.theme.empty()) throw_invalid_argument("a goal needs a theme (what it merges by)");
  check_priority(goal.priority);
  if (goal.status != GoalStatus::kQueued && goal.status != GoalStatus::kExpired) {
    throw_invalid_argument("a new goal is queued or expired, not " +
                           std::string(goal_status_name(goal.status)));
  }
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  db_->prepare(
         "INSERT INTO goals (kind, cause_event, cause_topic, theme, prompt, context, priority,"
         " status, budget_tokens, chain_depth, parent_goal, result, created_ms, updated_ms)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, goal_kind_name(goal.kind))
      .bind(2, goal.cause_event)
      .bind(3, goal.cause_topic)
      .bind(4, goal.theme)
      .bind(5, goal.prompt)
      .bind(6, stored_json(goal.context))
      .bind(7, static_cast<std::int64_t>(goal.priority))
      .bind(8, goal_status_name(goal.status))
      .bind(9, goal.budget_tokens)
      .bind(10, static_cast<std::int64_t>(goal.chain_depth))
      .bind(11, goal.parent_goal)
      .bind(12, goal.result)
      .bind(13, now)
      .bind(14, now)
      .run();
  return get_locked(db_->last_insert_id());
}

std::vector<Goal> GoalStore::query(const std::string& where, const std::string& order,
                                   const Binder& bind, std::int64_t limit) {
  // The limit is ?1, so that `where` numbers its own parameters from ?2.
  auto q =
      db_->prepare(std::string("SELECT ") + kGoalColumns + " FROM goals" +
                   (where.empty() ? "" : " WHERE " + where) + " ORDER BY " + order + " LIMIT ?1");
  q.bind(1, limit);
  if (bind) bind(q);
  std::vector<Goal> out;
  while (q.step()) out.push_back(goal_from_row(q));
  return out;
}

std::optional<Goal> GoalStore::find_locked(std::int64_t id) {
  std::vector<Goal> found = query(
      "id = ?2", "id", [&](sql::Query& q) { q.bind(2, id); }, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

Goal GoalStore::get_locked(std::int64_t id) {
  std::optional<Goal> goal = find_locked(id);
  if (!goal) throw_not_found("goal " + std::to_string(id) + ": no such goal");
  return std::move(*goal);
}

std::optional<Goal> GoalStore::find(std::int64_t id) {
  std::lock_guard lock(mu_);
  return find_locked(id);
}

Goal GoalStore::get(std::int64_t id) {
  std::lock_guard lock(mu_);
  return get_locked(id);
}

std::vector<Goal> GoalStore::list(const GoalFilter& filter) {
  std::lock_guard lock(mu_);
  const std::int64_t limit = std::max(filter.limit, 0);
  if (!filter.status) return query("", "id DESC", nullptr, limit);
  const std::string status(goal_status_name(*filter.status));
  const std::string order =
      *filter.status == GoalStatus::kQueued ? "priority DESC, created_ms, id" : "id DESC";
  return query(
      "status = ?2", order, [&](sql::Query& q) { q.bind(2, status); }, limit);
}

std::vector<Goal> GoalStore::changed_after(std::int64_t updated_ms, std::int64_t id, int limit) {
  std::lock_guard lock(mu_);
  return query(
      "updated_ms > ?2 OR (updated_ms = ?2 AND id > ?3)", "updated_ms, id",
      [&](sql::Query& q) { q.bind(2, updated_ms).bind(3, id); }, std::max(limit, 0));
}

GoalFigures GoalStore::figures() {
  std::lock_guard lock(mu_);
  GoalFigures out;
  for (const GoalStatus status :
       {GoalStatus::kQueued, GoalStatus::kRunning, GoalStatus::kPaused, GoalStatus::kDone,
        GoalStatus::kFailed, GoalStatus::kCancelled, GoalStatus::kExpired}) {
    out.by_status.emplace_back(status, 0);
  }
  auto counts = db_->prepare("SELECT status, COUNT(*) FROM goals GROUP BY status");
  while (counts.step()) {
    const GoalStatus status = goal_status_from_name(counts.text(0));
    for (auto& [s, n] : out.by_status) {
      if (s == status) n = counts.int64(1);
    }
  }
  auto runs = db_->prepare(
      "SELECT COUNT(*), COALESCE(SUM(r.attempt = 1), 0),"
      " COALESCE(SUM(CASE WHEN r.attempt = 1 THEN r.started_ms - g.created_ms END), 0)"
      " FROM goal_runs r JOIN goals g ON g.id = r.goal_id");
  if (runs.step()) {
    out.runs = runs.int64(0);
    out.first_runs = runs.int64(1);
    out.waited_seconds = static_cast<double>(runs.int64(2)) / 1000.0;
  }
  return out;
}

std::optional<Goal> GoalStore::find_open(GoalKind kind, const std::string& theme) {
  std::lock_guard lock(mu_);
  std::vector<Goal> found = query(
      "kind = ?2 AND theme = ?3 AND status IN ('queued', 'paused')", "id",
      [&](sql::Query& q) { q.bind(2, goal_kind_name(kind)).bind(3, theme); }, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::optional<Goal> GoalStore::goal_of_run(const std::string& run_id) {
  if (run_id.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  std::vector<Goal> found = query(
      "id IN (SELECT goal_id FROM goal_runs WHERE run_id = ?2)", "id",
      [&](sql::Query& q) { q.bind(2, run_id); }, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

Goal GoalStore::merge(std::int64_t id, const std::string& prompt, const json& context,
                      int priority) {
  check_priority(priority);
  std::lock_guard lock(mu_);
  const Goal goal = get_locked(id);
  if (goal.status != GoalStatus::kQueued && goal.status != GoalStatus::kPaused) {
    throw Error(ErrorCode::kFailedPrecondition,
                "goal " + std::to_string(id) + " is " + std::string(goal_status_name(goal.status)) +
                    ": causes merge only into a queued or paused goal");
  }
  db_->prepare(
         "UPDATE goals SET prompt = ?, context = ?, priority = ?, merged = merged + 1,"
         " updated_ms = ? WHERE id = ?")
      .bind(1, prompt)
      .bind(2, stored_json(context))
      .bind(3, static_cast<std::int64_t>(priority))
      .bind(4, clock_.now_ms())
      .bind(5, id)
      .run();
  return get_locked(id);
}

Goal GoalStore::set_status(std::int64_t id, GoalStatus to, std::string_view verb,
                           std::initializer_list<GoalStatus> allowed, const std::string& result) {
  const Goal goal = get_locked(id);
  if (std::find(allowed.begin(), allowed.end(), goal.status) == allowed.end()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "goal " + std::to_string(id) + " is " + std::string(goal_status_name(goal.status)) +
                    ": " + describe_allowed(allowed) + " can be " + std::string(verb));
  }
  db_->prepare(
         "UPDATE goals SET status = ?, result = CASE WHEN ? = '' THEN result ELSE ? END,"
         " updated_ms = ? WHERE id = ?")
      .bind(1, goal_status_name(to))
      .bind(2, result)
      .bind(3, result)
      .bind(4, clock_.now_ms())
      .bind(5, id)
      .run();
  return get_locked(id);
}

void GoalStore::finish_attempt(const Goal& goal, std::string_view outcome) {
  if (goal.attempts == 0) return;
  db_->prepare(
         "UPDATE goal_runs SET finished_ms = ?, outcome = ? WHERE goal_id = ? AND attempt = ?"
         " AND finished_ms IS NULL")
      .bind(1, clock_.now_ms())
      .bind(2, outcome)
      .bind(3, goal.id)
      .bind(4, static_cast<std::int64_t>(goal.attempts))
      .run();
}

Goal GoalStore::pause(std::int64_t id) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  const Goal before = get_locked(id);
  if (before.status == GoalStatus::kPaused) return before;
  Goal goal =
      set_status(id, GoalStatus::kPaused, "paused", {GoalStatus::kQueued, GoalStatus::kRunning});
  if (before.status == GoalStatus::kRunning) finish_attempt(goal, "paused");
  txn.commit();
  return goal;
}

Goal GoalStore::resume(std::int64_t id) {
  std::lock_guard lock(mu_);
  const Goal before = get_locked(id);
  if (before.status == GoalStatus::kQueued) return before;
  return set_status(id, GoalStatus::kQueued, "resumed", {GoalStatus::kPaused});
}

Goal GoalStore::cancel(std::int64_t id) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  const Goal before = get_locked(id);
  Goal goal = set_status(id, GoalStatus::kCancelled, "cancelled",
                         {GoalStatus::kQueued, GoalStatus::kRunning, GoalStatus::kPaused});
  if (before.status == GoalStatus::kRunning) finish_attempt(goal, "cancelled");
  txn.commit();
  return goal;
}

Goal GoalStore::mark_running(std::int64_t id, const std::string& thread_id,
                             const std::string& run_id) {
  if (thread_id.empty() || run_id.empty()) {
    throw_invalid_argument("goal " + std::to_string(id) +
                           ": a running goal needs the thread and run it runs as");
  }
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  const Goal before = get_locked(id);
  set_status(id, GoalStatus::kRunning, "started", {GoalStatus::kQueued});
  auto same = db_->prepare("SELECT attempt FROM goal_runs WHERE goal_id = ? AND run_id = ?");
  same.bind(1, id).bind(2, run_id);
  const bool resumed = same.step();
  const std::int64_t now = clock_.now_ms();
  if (resumed) {
    db_->prepare(
           "UPDATE goal_runs SET finished_ms = NULL, outcome = '' WHERE goal_id = ? AND"
           " run_id = ?")
        .bind(1, id)
        .bind(2, run_id)
        .run();
  } else {
    db_->prepare(
           "INSERT INTO goal_runs (goal_id, attempt, thread_id, run_id, started_ms)"
           " VALUES (?, ?, ?, ?, ?)")
        .bind(1, id)
        .bind(2, static_cast<std::int64_t>(before.attempts + 1))
        .bind(3, thread_id)
        .bind(4, run_id)
        .bind(5, now)
        .run();
  }
  db_->prepare(
         "UPDATE goals SET attempts = attempts + ?, thread_id = ?, run_id = ?, updated_ms = ?"
         " WHERE id = ?")
      .bind(1, static_cast<std::int64_t>(resumed ? 0 : 1))
      .bind(2, thread_id)
      .bind(3, run_id)
      .bind(4, now)
      .bind(5, id)
      .run();
  Goal goal = get_locked(id);
  txn.commit();
  return goal;
}

Goal GoalStore::requeue(std::int64_t id) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  Goal goal = set_status(id, GoalStatus::kQueued, "requeued", {GoalStatus::kRunning});
  finish_attempt(goal, "requeued");
  txn.commit();
  return goal;
}

Goal GoalStore::mark_done(std::int64_t id, const std::string& result) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  Goal goal = set_status(id, GoalStatus::kDone, "marked done", {GoalStatus::kRunning}, result);
  finish_attempt(goal, "done");
  txn.commit();
  return goal;
}

Goal GoalStore::mark_failed(std::int64_t id, const std::string& reason) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  const Goal before = get_locked(id);
  Goal goal = set_status(id, GoalStatus::kFailed, "marked failed",
                         {GoalStatus::kQueued, GoalStatus::kRunning}, reason);
  if (before.status == GoalStatus::kRunning) finish_attempt(goal, "failed");
  txn.commit();
  return goal;
}

std::vector<GoalRun> GoalStore::query_runs(const std::string& where, std::int64_t value) {
  auto q = db_->prepare(
      "SELECT goal_id, attempt, thread_id, run_id, started_ms, finished_ms, outcome"
      " FROM goal_runs WHERE " +
      where + " ORDER BY started_ms, goal_id, attempt");
  q.bind(1, value);
  std::vector<GoalRun> out;
  while (q.step()) {
    out.push_back({q.int64(0), static_cast<int>(q.int64(1)), q.text(2), q.text(3), q.int64(4),
                   optional_int(q, 5), q.text(6)});
  }
  return out;
}

std::vector<GoalRun> GoalStore::runs_of(std::int64_t goal_id) {
  std::lock_guard lock(mu_);
  get_locked(goal_id);
  return query_runs("goal_id = ?", goal_id);
}

std::vector<GoalRun> GoalStore::runs_since(std::int64_t since_ms) {
  std::lock_guard lock(mu_);
  return query_runs("started_ms >= ?", since_ms);
}

MotivatorCursor GoalStore::cursor() {
  std::lock_guard lock(mu_);
  auto q = db_->prepare("SELECT event_cursor, curiosity_ms FROM motivator WHERE id = 1");
  if (!q.step()) {
    throw Error(ErrorCode::kDataLoss, db_->path() + ": the motivator row is missing");
  }
  return {q.int64(0), q.int64(1)};
}

void GoalStore::set_event_cursor(std::int64_t event_id) {
  std::lock_guard lock(mu_);
  db_->prepare("UPDATE motivator SET event_cursor = ? WHERE id = 1").bind(1, event_id).run();
}

void GoalStore::set_curiosity_ms(std::int64_t ms) {
  std::lock_guard lock(mu_);
  db_->prepare("UPDATE motivator SET curiosity_ms = ? WHERE id = 1").bind(1, ms).run();
}

GoalStore::Batch::Batch(GoalStore& store) : lock_(store.mu_) {
  txn_ = std::make_unique<sql::Transaction>(*store.db_);
}

GoalStore::Batch::~Batch() = default;  // an uncommitted transaction rolls back

void GoalStore::Batch::commit() {
  txn_->commit();
  txn_.reset();
}

}  // namespace a4ps::motive
