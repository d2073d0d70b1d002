#include "motive/goals.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "image/state_db.h"
#include "motive/motive_fixture.h"
#include "support/errors.h"

namespace a4ps::motive {
namespace {

using a4ps::testing::code_of;
using nlohmann::json;
using testing::MotiveFixture;

NewGoal user_goal(const std::string& prompt, int priority = 50) {
  NewGoal g;
  g.kind = GoalKind::kUser;
  g.theme = "user:" + prompt;
  g.prompt = prompt;
  g.context = {{"task", prompt}};
  g.priority = priority;
  g.budget_tokens = 1000;
  return g;
}

TEST(GoalStore, CreatedGoalReadsBackWithEveryField) {
  MotiveFixture f("goal-create");
  NewGoal g = user_goal("tidy the notes", 70);
  g.cause_event = 12;
  g.cause_topic = "COGNITIVE_DISSONANCE";
  g.chain_depth = 1;
  const Goal created = f.goals->create(g);
  const Goal read = f.goals->get(created.id);
  EXPECT_EQ(read.kind, GoalKind::kUser);
  EXPECT_EQ(read.status, GoalStatus::kQueued);
  EXPECT_EQ(read.prompt, "tidy the notes");
  EXPECT_EQ(read.context, json({{"task", "tidy the notes"}}));
  EXPECT_EQ(read.priority, 70);
  EXPECT_EQ(read.cause_event.value_or(-1), 12);
  EXPECT_EQ(read.cause_topic, "COGNITIVE_DISSONANCE");
  EXPECT_EQ(read.budget_tokens, 1000);
  EXPECT_EQ(read.chain_depth, 1);
  EXPECT_EQ(read.attempts, 0);
  EXPECT_EQ(read.created_ms, f.clock.now_ms());
  EXPECT_EQ(read.to_json()["status"], "queued");
  EXPECT_EQ(read.to_json()["kind"], "user");
}

TEST(GoalStore, UnknownGoalIdIsNotFoundNamingTheId) {
  MotiveFixture f("goal-unknown");
  std::string message;
  EXPECT_EQ(code_of([&] { f.goals->get(42); }, &message), ErrorCode::kNotFound);
  EXPECT_EQ(message, "goal 42: no such goal");
  for (const auto& change : std::vector<std::function<void()>>{
           [&] { f.goals->pause(42); }, [&] { f.goals->resume(42); }, [&] { f.goals->cancel(42); },
           [&] { f.goals->mark_running(42, "t", "r"); }, [&] { f.goals->mark_done(42, ""); },
           [&] { f.goals->runs_of(42); }}) {
    EXPECT_EQ(code_of(change, &message), ErrorCode::kNotFound);
    EXPECT_EQ(message, "goal 42: no such goal");
  }
  EXPECT_FALSE(f.goals->find(42).has_value());
}

TEST(GoalStore, PausingAFinishedGoalSaysItsStatusAndWhatIsAllowed) {
  MotiveFixture f("goal-pause-finished");
  const Goal g = f.goals->create(user_goal("a"));
  f.goals->mark_running(g.id, "t-1", "r-1");
  f.goals->mark_done(g.id, "answered");
  std::string message;
  EXPECT_EQ(code_of([&] { f.goals->pause(g.id); }, &message), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(message, "goal " + std::to_string(g.id) +
                         " is done: only a queued or running goal can be paused");
  EXPECT_EQ(code_of([&] { f.goals->resume(g.id); }, &message), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(message,
            "goal " + std::to_string(g.id) + " is done: only a paused goal can be resumed");
  EXPECT_EQ(code_of([&] { f.goals->cancel(g.id); }, &message), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(message, "goal " + std::to_string(g.id) +
                         " is done: only a queued, running or paused goal can be cancelled");
  EXPECT_EQ(f.goals->get(g.id).status, GoalStatus::kDone);
  EXPECT_EQ(f.goals->get(g.id).result, "answered");
}

TEST(GoalStore, ARunResumedIsTheSameAttemptAndANewRunIsAnother) {
  MotiveFixture f("goal-attempts");
  const Goal g = f.goals->create(user_goal("a"));
  EXPECT_EQ(f.goals->mark_running(g.id, "t-1", "r-1").attempts, 1);
  f.clock.advance_seconds(10);
  EXPECT_EQ(f.goals->requeue(g.id).status, GoalStatus::kQueued);  // a user pre-empted it
  EXPECT_EQ(f.goals->mark_running(g.id, "t-1", "r-1").attempts, 1);
  EXPECT_EQ(f.goals->pause(g.id).status, GoalStatus::kPaused);
  EXPECT_EQ(f.goals->pause(g.id).status, GoalStatus::kPaused);  // pausing twice is harmless
  EXPECT_EQ(f.goals->resume(g.id).status, GoalStatus::kQueued);
  const Goal again = f.goals->mark_running(g.id, "t-2", "r-2");
  EXPECT_EQ(again.attempts, 2);
  EXPECT_EQ(again.run_id, "r-2");
  f.goals->mark_failed(g.id, "the model was unavailable");
  const std::vector<GoalRun> runs = f.goals->runs_of(g.id);
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_EQ(runs[0].run_id, "r-1");
  EXPECT_EQ(runs[0].outcome, "paused");
  EXPECT_EQ(runs[1].run_id, "r-2");
  EXPECT_EQ(runs[1].outcome, "failed");
  ASSERT_TRUE(f.goals->goal_of_run("r-1").has_value());
  EXPECT_EQ(f.goals->goal_of_run("r-1")->id, g.id);
  EXPECT_EQ(f.goals->get(g.id).result, "the model was unavailable");
}

TEST(GoalStore, QueuedGoalsListByPriorityThenAge) {
  MotiveFixture f("goal-order");
  const Goal low = f.goals->create(user_goal("low", 10));
  f.clock.advance_seconds(1);
  const Goal old_high = f.goals->create(user_goal("old high", 90));
  f.clock.advance_seconds(1);
  const Goal new_high = f.goals->create(user_goal("new high", 90));
  const std::vector<Goal> queued = f.goals->list({GoalStatus::kQueued});
  ASSERT_EQ(queued.size(), 3U);
  EXPECT_EQ(queued[0].id, old_high.id);
  EXPECT_EQ(queued[1].id, new_high.id);
  EXPECT_EQ(queued[2].id, low.id);
  EXPECT_EQ(f.goals->list().front().id, new_high.id);  // unfiltered: newest first
}

// The API's goal stream reads changes after its place; two goals changed in the same
// millisecond are both sent, in id order, and a goal changed again comes again.
TEST(GoalStore, ChangesAfterAPlaceComeInTheOrderTheyHappened) {
  MotiveFixture f("goal-changes");
  const Goal a = f.goals->create(user_goal("a"));
  const Goal b = f.goals->create(user_goal("b"));  // the same millisecond as a
  f.clock.advance_seconds(1);
  const Goal c = f.goals->create(user_goal("c"));
  std::vector<Goal> seen = f.goals->changed_after(0, 0);
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].id, a.id);
  EXPECT_EQ(seen[1].id, b.id);
  EXPECT_EQ(seen[2].id, c.id);
  EXPECT_EQ(f.goals->changed_after(a.updated_ms, a.id).front().id, b.id);
  EXPECT_TRUE(f.goals->changed_after(c.updated_ms, c.id).empty());
  f.clock.advance_seconds(1);
  f.goals->pause(a.id);
  seen = f.goals->changed_after(c.updated_ms, c.id);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].id, a.id);
  EXPECT_EQ(seen[0].status, GoalStatus::kPaused);
  EXPECT_EQ(f.goals->changed_after(0, 0, 2).size(), 2U);  // the limit holds
}

TEST(GoalStore, FiguresCountEveryStatusTheRunsAndTheWaitForAFirstRun) {
  MotiveFixture f("goal-figures");
  const Goal a = f.goals->create(user_goal("a"));
  const Goal b = f.goals->create(user_goal("b"));
  f.goals->create(user_goal("c"));
  f.clock.advance_seconds(30);
  f.goals->mark_running(a.id, "t-a", "r-a1");
  f.goals->mark_failed(a.id, "no");
  f.clock.advance_seconds(30);
  f.goals->mark_running(b.id, "t-b", "r-b1");
  f.goals->pause(b.id);
  f.goals->resume(b.id);
  f.goals->mark_running(b.id, "t-b2", "r-b2");  // a second attempt
  const GoalFigures figures = f.goals->figures();
  ASSERT_EQ(figures.by_status.size(), 7U);
  const auto count = [&](GoalStatus s) {
    for (const auto& [status, n] : figures.by_status) {
      if (status == s) return n;
    }
    return std::int64_t{-1};
  };
  EXPECT_EQ(count(GoalStatus::kQueued), 1);
  EXPECT_EQ(count(GoalStatus::kRunning), 1);
  EXPECT_EQ(count(GoalStatus::kFailed), 1);
  EXPECT_EQ(count(GoalStatus::kDone), 0);
  EXPECT_EQ(figures.runs, 3);
  EXPECT_EQ(figures.first_runs, 2);
  EXPECT_DOUBLE_EQ(figures.waited_seconds, 30.0 + 60.0);
}

TEST(GoalStore, CreateRefusesWhatIsNotAGoal) {
  MotiveFixture f("goal-bad");
  std::string message;
  EXPECT_EQ(code_of([&] { f.goals->create(user_goal("")); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { f.goals->create(user_goal("a", 101)); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(message, "goal priority 101: must be an integer from 0 to 100");
  NewGoal running = user_goal("a");
  running.status = GoalStatus::kRunning;
  EXPECT_EQ(code_of([&] { f.goals->create(running); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { goal_status_from_name("sleeping"); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(message,
            "goal status \"sleeping\": must be one of queued, running, paused, done, failed, "
            "cancelled, expired");
}

TEST(GoalStore, AnUncommittedBatchLeavesNothing) {
  MotiveFixture f("goal-batch");
  {
    GoalStore::Batch batch(*f.goals);
    f.goals->create(user_goal("a"));
    f.goals->set_event_cursor(99);
  }  // dropped without commit(), as by a crash
  EXPECT_TRUE(f.goals->list().empty());
  EXPECT_NE(f.goals->cursor().event_cursor, 99);
}

TEST(GoalStore, MigrationStartsTheCursorAtTheEndOfTheJournal) {
  const auto dir = a4ps::testing::scratch_dir() / "motive" / "goal-migrate";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "state.db";
  const std::vector<Migration> up_to_4(state_db_migrations().begin(),
                                       state_db_migrations().begin() + 4);
  ASSERT_EQ(migrate_state_db(path, up_to_4), 4);
  std::string message;
  EXPECT_EQ(code_of([&] { GoalStore::open(path); }, &message), ErrorCode::kFailedPrecondition);
  {
    auto db = sql::Database::open(path.string());
    db->exec(
        "INSERT INTO journal VALUES ('t', 1, 'measure', 'event', '0', '{}', 1);"
        "INSERT INTO journal VALUES ('t', 2, 'measure', 'model', '0', '{}', 1);",
        "old journal");
  }
  const std::vector<Migration> up_to_5(state_db_migrations().begin(),
                                       state_db_migrations().begin() + 5);
  EXPECT_EQ(migrate_state_db(path, up_to_5), 5);
  // Events from before the Motivator existed are history, not goals.
  EXPECT_EQ(GoalStore::open(path)->cursor().event_cursor, 2);
}

}  // namespace
}  // namespace a4ps::motive
