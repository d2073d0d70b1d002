#include "motive/policy.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "motive/motivator.h"
#include "motive/motive_fixture.h"
#include "support/errors.h"

namespace a4ps::motive {
namespace {

using a4ps::testing::code_of;
using nlohmann::json;
using testing::MotiveFixture;

constexpr std::int64_t kSecondMs = 1000;
constexpr std::int64_t kHourMs = 3600 * kSecondMs;

MotivatorConfig loop_on() {
  MotivatorConfig c = testing::test_config();
  c.autonomous = true;
  c.idle_seconds = 300;
  c.max_goals_per_hour = 100;
  c.max_autonomous_runs_per_day = 1000;
  return c;
}

Goal queued(std::int64_t id, int priority, std::int64_t created_ms) {
  Goal g;
  g.id = id;
  g.priority = priority;
  g.created_ms = created_ms;
  g.status = GoalStatus::kQueued;
  return g;
}

NewGoal new_goal(const std::string& prompt, int priority = 50) {
  NewGoal g;
  g.theme = "user:" + prompt;
  g.prompt = prompt;
  g.priority = priority;
  return g;
}

// Starts and finishes the best goal the policy allows; false when it allows none.
bool run_best(AutonomyPolicy& policy, GoalStore& goals, const std::string& run) {
  const Decision d = policy.decide(goals, {});
  if (!d.may_start()) return false;
  goals.mark_running(d.goal->id, "t-" + run, run);
  goals.mark_done(d.goal->id, "done");
  return true;
}

TEST(AutonomyPolicy, TheLoopOffStartsNothingAndSaysWhy) {
  ManualClock clock(testing::test_start_ms());
  MotivatorConfig c = loop_on();
  c.autonomous = false;
  PolicyInputs in;
  in.queued = {queued(1, 50, 0)};
  const Decision d = AutonomyPolicy(c, clock).decide(in);
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.reason, "the autonomous loop is off ([motivator] autonomous = false)");
  EXPECT_EQ(d.retry_at_ms, 0);
}

TEST(AutonomyPolicy, AGoalStartsOnlyAfterIdleSecondsWithoutUserActivity) {
  ManualClock clock(testing::test_start_ms());
  const AutonomyPolicy policy(loop_on(), clock);
  PolicyInputs in;
  in.queued = {queued(1, 50, 0)};
  in.user.last_ms = clock.now_ms() - 100 * kSecondMs;
  Decision d = policy.decide(in);
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.reason,
            "not idle: the last user activity was 100 s ago, and goals start after 300 s without "
            "any ([motivator] idle_seconds)");
  EXPECT_EQ(d.retry_at_ms, in.user.last_ms + 300 * kSecondMs);
  clock.set_ms(d.retry_at_ms - 1);
  EXPECT_FALSE(policy.decide(in).may_start());
  clock.set_ms(d.retry_at_ms);
  d = policy.decide(in);
  ASSERT_TRUE(d.may_start());
  EXPECT_EQ(d.goal->id, 1);
  in.user.busy = true;  // a user's run in progress is never idle
  EXPECT_EQ(policy.decide(in).reason, "a user's request is in progress");
}

TEST(AutonomyPolicy, TheBestGoalIsTheHighestPriorityThenTheOldest) {
  ManualClock clock(testing::test_start_ms());
  const AutonomyPolicy policy(loop_on(), clock);
  PolicyInputs in;
  in.queued = {queued(1, 40, 10), queued(2, 80, 30), queued(3, 80, 20), queued(4, 80, 20)};
  const Decision d = policy.decide(in);
  ASSERT_TRUE(d.may_start());
  EXPECT_EQ(d.goal->id, 3);
  EXPECT_EQ(d.reason, "goal 3 (user, priority 80) is the best of 4 queued");
  in.queued.clear();
  EXPECT_EQ(policy.decide(in).reason, "no goal is queued");
  in.queued = {queued(1, 40, 10)};
  in.running = {queued(9, 50, 0)};
  EXPECT_EQ(policy.decide(in).reason, "goal 9 is running (one autonomous run at a time)");
}

TEST(AutonomyPolicy, TheHourlyGoalLimitHoldsAndLiftsAnHourAfterTheFirstStart) {
  MotiveFixture f("hourly");
  MotivatorConfig c = loop_on();
  c.max_goals_per_hour = 2;
  AutonomyPolicy policy(c, f.clock);
  for (int i = 0; i < 4; ++i) f.goals->create(new_goal("g" + std::to_string(i)));
  const std::int64_t first = f.clock.now_ms();
  EXPECT_TRUE(run_best(policy, *f.goals, "r-1"));
  f.clock.advance_seconds(600);
  EXPECT_TRUE(run_best(policy, *f.goals, "r-2"));
  const Decision d = policy.decide(*f.goals, {});
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.reason,
            "hourly limit reached: 2 goals started in the last hour ([motivator] "
            "max_goals_per_hour = 2); the next may start in 50 min");
  EXPECT_EQ(d.retry_at_ms, first + kHourMs);
  f.clock.set_ms(d.retry_at_ms);
  EXPECT_TRUE(run_best(policy, *f.goals, "r-3"));
}

TEST(AutonomyPolicy, AGoalResumedWithinItsHourIsNotCountedAgain) {
  MotiveFixture f("hourly-resume");
  MotivatorConfig c = loop_on();
  c.max_goals_per_hour = 1;
  AutonomyPolicy policy(c, f.clock);
  const Goal g = f.goals->create(new_goal("long one", 90));
  f.goals->create(new_goal("other", 10));
  f.goals->mark_running(g.id, "t", "r-1");
  f.goals->requeue(g.id);  // a user came; the run waits to be resumed
  const Decision d = policy.decide(*f.goals, {});
  ASSERT_TRUE(d.may_start());
  EXPECT_EQ(d.goal->id, g.id);
  EXPECT_EQ(d.reason, "goal " + std::to_string(g.id) +
                          " (user, priority 90) is the best of 2 queued; its run r-1 resumes");
  f.goals->mark_running(g.id, "t", "r-1");
  f.goals->mark_done(g.id, "");
  EXPECT_FALSE(policy.decide(*f.goals, {}).may_start());  // "other" is a second goal
}

TEST(AutonomyPolicy, TheDailyRunLimitHoldsAndLiftsADayAfterTheOldestRun) {
  MotiveFixture f("daily");
  MotivatorConfig c = loop_on();
  c.max_autonomous_runs_per_day = 3;
  AutonomyPolicy policy(c, f.clock);
  for (int i = 0; i < 5; ++i) f.goals->create(new_goal("g" + std::to_string(i)));
  const std::int64_t first = f.clock.now_ms();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(run_best(policy, *f.goals, "r-" + std::to_string(i)));
    f.clock.advance_seconds(2 * 3600);
  }
  const Decision d = policy.decide(*f.goals, {});
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.reason,
            "daily limit reached: 3 autonomous runs started in the last 24 hours ([motivator] "
            "max_autonomous_runs_per_day = 3); the next may start in 18 h");
  EXPECT_EQ(d.retry_at_ms, first + 24 * kHourMs);
  f.clock.set_ms(d.retry_at_ms - 1);
  EXPECT_FALSE(policy.decide(*f.goals, {}).may_start());  // the first run is still in its day
  f.clock.set_ms(d.retry_at_ms);
  EXPECT_TRUE(run_best(policy, *f.goals, "r-3"));
}

TEST(AutonomyPolicy, ZeroLimitsNeverStartAGoal) {
  ManualClock clock(testing::test_start_ms());
  MotivatorConfig c = loop_on();
  c.max_goals_per_hour = 0;
  PolicyInputs in;
  in.queued = {queued(1, 50, 0)};
  Decision d = AutonomyPolicy(c, clock).decide(in);
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.retry_at_ms, 0);
  c = loop_on();
  c.max_autonomous_runs_per_day = 0;
  d = AutonomyPolicy(c, clock).decide(in);
  EXPECT_FALSE(d.may_start());
  EXPECT_NE(d.reason.find("max_autonomous_runs_per_day = 0"), std::string::npos);
}

TEST(AutonomyPolicy, TheDeadlineIsGoalDeadlineSecondsAfterTheStart) {
  ManualClock clock(0);
  MotivatorConfig c = loop_on();
  c.goal_deadline_seconds = 90;
  EXPECT_EQ(AutonomyPolicy(c, clock).deadline_ms(1000), 91000);
}

// The loop dissonance -> goal -> run -> dissonance, driven with maximal dissonance (and a
// failed tool) from every run, as a backend that always disagrees with itself would give.
struct LoopOutcome {
  int runs = 0;
  bool ended = false;  // nothing left that waiting could start
};

LoopOutcome run_the_loop(MotiveFixture& f, const MotivatorConfig& c, std::int64_t for_ms) {
  Motivator motivator(c, *f.log, *f.goals);
  AutonomyPolicy policy(c, f.clock);
  f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 1.0, "r-user"));
  const std::int64_t end = f.clock.now_ms() + for_ms;
  LoopOutcome out;
  while (f.clock.now_ms() < end) {
    motivator.poll(f.clock.now_ms());
    const Decision d = policy.decide(*f.goals, {});
    if (!d.may_start()) {
      if (d.retry_at_ms == 0) {
        out.ended = true;
        break;
      }
      f.clock.set_ms(d.retry_at_ms);
      continue;
    }
    const std::string run = "r-auto" + std::to_string(++out.runs);
    f.goals->mark_running(d.goal->id, "t-auto", run);
    f.clock.advance_seconds(120);
    f.publish(kCognitiveDissonance, f.dissonance(d.goal->prompt, 1.0, run));
    f.publish(kToolFailed, f.tool_failed("synthesise", "no tool helps", run));
    f.goals->mark_done(d.goal->id, "still dissonant");
  }
  return out;
}

TEST(AutonomyPolicy, TheDissonanceLoopEndsAtTheChainDepth) {
  MotiveFixture f("runaway-depth");
  MotivatorConfig c = loop_on();
  c.idle_seconds = 0;
  c.max_chain_depth = 3;
  const LoopOutcome out = run_the_loop(f, c, 365LL * 24 * kHourMs);
  EXPECT_TRUE(out.ended);
  // Each run yields at most two goals one deeper (a synthesis and a capability goal; merging
  // makes it fewer), and depth 4 expires: at most 1 + 2 + 4 + 8 runs.
  EXPECT_GE(out.runs, 4);
  EXPECT_LE(out.runs, 15);
  EXPECT_TRUE(f.goals->list({GoalStatus::kQueued}).empty());
  for (const Goal& g : f.goals->list({std::nullopt, 1000})) {
    EXPECT_EQ(g.status == GoalStatus::kExpired, g.chain_depth > 3) << g.id;
  }
}

TEST(AutonomyPolicy, TheRateLimitsBoundTheLoopEvenWithoutADepthLimit) {
  MotiveFixture f("runaway-rate");
  MotivatorConfig c = loop_on();
  c.idle_seconds = 0;
  c.max_chain_depth = 100;
  c.max_goals_per_hour = 2;
  c.max_autonomous_runs_per_day = 10;
  const LoopOutcome out = run_the_loop(f, c, 3LL * 24 * kHourMs);
  EXPECT_LE(out.runs, 3 * 10);
  EXPECT_GE(out.runs, 2 * 10);  // the limits bound it; they do not stop it early
  EXPECT_LE(f.goals->runs_since(f.clock.now_ms() - 24 * kHourMs).size(), 10U);
}

std::string motivator_error(const std::string& toml) {
  std::string message;
  EXPECT_EQ(code_of([&] { Config::load_string("[motivator]\n" + toml, "config.toml"); }, &message),
            ErrorCode::kInvalidArgument)
      << toml;
  return message;
}

TEST(AutonomyConfig, BadMotivatorValuesNameKeyValueAndWhatIsExpected) {
  EXPECT_EQ(motivator_error("autonomous = \"yes\"\n"),
            "config.toml: [motivator] autonomous = \"yes\": must be true or false");
  EXPECT_EQ(motivator_error("idle_seconds = -1\n"),
            "config.toml: [motivator] idle_seconds = -1: must be a non-negative integer");
  EXPECT_EQ(motivator_error("max_goals_per_hour = 1.5\n"),
            "config.toml: [motivator] max_goals_per_hour = 1.5: must be a non-negative integer");
  EXPECT_EQ(motivator_error("max_autonomous_runs_per_day = -2\n"),
            "config.toml: [motivator] max_autonomous_runs_per_day = -2: must be a non-negative "
            "integer");
  EXPECT_EQ(motivator_error("max_chain_depth = 101\n"),
            "config.toml: [motivator] max_chain_depth = 101: must be an integer from 0 to 100");
  EXPECT_EQ(motivator_error("goal_budget_tokens = 0\n"),
            "config.toml: [motivator] goal_budget_tokens = 0: must be a positive integer");
  EXPECT_EQ(motivator_error("goal_deadline_seconds = 0\n"),
            "config.toml: [motivator] goal_deadline_seconds = 0: must be a positive integer");
  EXPECT_EQ(motivator_error("curiosity_interval_seconds = 0\n"),
            "config.toml: [motivator] curiosity_interval_seconds = 0: must be a positive integer");
  EXPECT_EQ(motivator_error("reflection_episodes = 0\n"),
            "config.toml: [motivator] reflection_episodes = 0: must be an integer from 1 to 100");
}

TEST(AutonomyConfig, DefaultsAreOffAndBoundedAndRoundTrip) {
  const Config d = Config::defaults();
  EXPECT_FALSE(d.motivator.autonomous);
  EXPECT_EQ(d.motivator.idle_seconds, 300);
  EXPECT_EQ(d.motivator.max_goals_per_hour, 4);
  EXPECT_EQ(d.motivator.max_autonomous_runs_per_day, 24);
  EXPECT_EQ(d.motivator.max_chain_depth, 2);
  EXPECT_EQ(d.motivator.goal_budget_tokens, 100000);
  EXPECT_EQ(d.motivator.goal_deadline_seconds, 1800);
  EXPECT_EQ(d.motivator.reflection_episodes, 5);
  const Config c = Config::load_string(
      "[motivator]\nautonomous = true\nidle_seconds = 0\nmax_chain_depth = 0\n", "config.toml");
  EXPECT_TRUE(c.motivator.autonomous);
  EXPECT_EQ(c.motivator.idle_seconds, 0);
  EXPECT_EQ(c.motivator.max_chain_depth, 0);
  EXPECT_TRUE(c.warnings.empty());
  const Config back = Config::load_string(render_config(c), "rendered");
  EXPECT_TRUE(back.motivator.autonomous);
  EXPECT_NE(render_default_config().find("autonomous = false"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::motive
