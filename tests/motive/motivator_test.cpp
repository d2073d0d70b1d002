#include "motive/motivator.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "motive/motive_fixture.h"

namespace a4ps::motive {
namespace {

using nlohmann::json;
using testing::MotiveFixture;
using testing::test_config;

constexpr std::int64_t kHourMs = 3600LL * 1000;

std::vector<Goal> all_goals(GoalStore& goals) {
  std::vector<Goal> out = goals.list({std::nullopt, 1000});
  std::reverse(out.begin(), out.end());  // oldest first
  return out;
}

TEST(Motivator, DissonanceAboveTheThresholdBecomesASynthesisGoal) {
  MotiveFixture f("dissonance");
  Motivator m(test_config(), *f.log, *f.goals);
  f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 0.93, "r-user1"));
  const PollResult r = m.poll(f.clock.now_ms());
  EXPECT_EQ(r.events_read, 1);
  ASSERT_EQ(r.changes.size(), 1U);
  EXPECT_EQ(r.changes[0].what, GoalChange::What::kCreated);
  const Goal g = f.goals->get(r.changes[0].goal.id);
  EXPECT_EQ(g.kind, GoalKind::kSynthesis);
  EXPECT_EQ(g.status, GoalStatus::kQueued);
  EXPECT_EQ(g.cause_topic, kCognitiveDissonance);
  ASSERT_TRUE(g.cause_event.has_value());
  EXPECT_EQ(g.chain_depth, 0);
  EXPECT_EQ(g.theme, theme_of("synthesis", "is a TOMATO a fruit"));
  EXPECT_EQ(g.context["task"], "Is a tomato a fruit?");
  EXPECT_EQ(g.context["positions"]["brick"], "BRICK's position on Is a tomato a fruit?");
  EXPECT_EQ(g.context["positions"]["robin"], "ROBIN's position on Is a tomato a fruit?");
  EXPECT_DOUBLE_EQ(g.context["score"].get<double>(), 0.93);
  EXPECT_DOUBLE_EQ(g.context["parts"]["judged"].get<double>(), 0.93);
  EXPECT_EQ(g.context["episode"], json({{"thread", "t-user"}, {"run", "r-user1"}}));
  EXPECT_NE(g.prompt.find("Is a tomato a fruit?"), std::string::npos) << g.prompt;
  EXPECT_NE(g.prompt.find("ROBIN: ROBIN's position"), std::string::npos) << g.prompt;
  EXPECT_EQ(g.priority, 50 + 37);
  EXPECT_EQ(g.budget_tokens, test_config().goal_budget_tokens);
}

TEST(Motivator, DissonanceAtOrBelowTheThresholdAndOtherTopicsMakeNoGoal) {
  MotiveFixture f("below");
  Motivator m(test_config(), *f.log, *f.goals);
  f.publish(kCognitiveDissonance, f.dissonance("a", 0.8, "r-1"));  // not above 0.8
  f.publish(kCognitiveDissonance, f.dissonance("b", 0.2, "r-1"));
  f.publish(kToolCreated, {{"capability", "sum"}, {"run", "r-1"}});
  f.publish(kCognitiveDissonance, {{"task", "no score"}});               // malformed
  f.publish(kToolFailed, {{"reasons", json::array()}, {"run", "r-1"}});  // no capability
  const PollResult r = m.poll(f.clock.now_ms());
  EXPECT_EQ(r.events_read, 5);
  EXPECT_EQ(r.events_ignored, 5);
  EXPECT_TRUE(f.goals->list().empty());
  // They are consumed: a later good event is the only one the next poll reads.
  f.publish(kCognitiveDissonance, f.dissonance("c", 0.9, "r-2"));
  EXPECT_EQ(m.poll(f.clock.now_ms()).events_read, 1);
  EXPECT_EQ(f.goals->list().size(), 1U);
}

TEST(Motivator, ToolFailedBecomesACapabilityGoalWithWhatTheAttemptsTaught) {
  MotiveFixture f("capability");
  Motivator m(test_config(), *f.log, *f.goals);
  f.publish(kToolFailed, f.tool_failed("Parse ISO dates", "tests failed: timezone lost", "r-1"));
  m.poll(f.clock.now_ms());
  const std::vector<Goal> goals = all_goals(*f.goals);
  ASSERT_EQ(goals.size(), 1U);
  EXPECT_EQ(goals[0].kind, GoalKind::kCapability);
  EXPECT_EQ(goals[0].theme, theme_of("capability", "parse iso dates"));
  EXPECT_EQ(goals[0].context["reasons"], json::array({"tests failed: timezone lost"}));
  EXPECT_NE(goals[0].prompt.find("timezone lost"), std::string::npos) << goals[0].prompt;
}

TEST(Motivator, CausesOnTheSameThemeMergeIntoTheQueuedGoal) {
  MotiveFixture f("merge");
  Motivator m(test_config(), *f.log, *f.goals);
  f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 0.85, "r-1"));
  f.publish(kCognitiveDissonance, f.dissonance("is a tomato a FRUIT", 0.95, "r-2"));
  f.publish(kCognitiveDissonance, f.dissonance("Something else", 0.9, "r-3"));
  f.publish(kToolFailed, f.tool_failed("parse dates", "timezone lost", "r-4"));
  f.publish(kToolFailed, f.tool_failed("Parse  dates!", "leap years wrong", "r-5"));
  f.publish(kToolFailed, f.tool_failed("parse dates", "timezone lost", "r-6"));
  const PollResult r = m.poll(f.clock.now_ms());
  ASSERT_EQ(r.changes.size(), 6U);
  EXPECT_EQ(r.changes[1].what, GoalChange::What::kMerged);
  const std::vector<Goal> goals = all_goals(*f.goals);
  ASSERT_EQ(goals.size(), 3U);
  const Goal& tomato = goals[0];
  EXPECT_EQ(tomato.merged, 1);
  EXPECT_EQ(tomato.context["causes"].size(), 2U);
  EXPECT_EQ(tomato.context["episode"]["run"], "r-2");         // the newest positions
  EXPECT_EQ(tomato.context["task"], "Is a tomato a fruit?");  // the first wording
  EXPECT_EQ(tomato.priority, 50 + 38);                        // the higher of the two
  const Goal& dates = goals[2];
  EXPECT_EQ(dates.merged, 2);
  EXPECT_EQ(dates.context["reasons"], json::array({"timezone lost", "leap years wrong"}));
  EXPECT_NE(dates.prompt.find("leap years wrong"), std::string::npos);

  // A goal that is running takes no more causes: its run may resolve it, or not.
  f.goals->mark_running(tomato.id, "t-g", "r-g1");
  f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 0.9, "r-7"));
  m.poll(f.clock.now_ms());
  EXPECT_EQ(all_goals(*f.goals).size(), 4U);
}

TEST(Motivator, AGoalBornOfAGoalsRunIsOneDeeperAndPastTheLimitExpires) {
  MotiveFixture f("chain");
  MotivatorConfig config = test_config();
  config.max_chain_depth = 2;
  Motivator m(config, *f.log, *f.goals);
  f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 0.9, "r-user"));
  m.poll(f.clock.now_ms());
  std::int64_t id = f.goals->list().front().id;
  for (int depth = 1; depth <= 3; ++depth) {
    const std::string run = "r-goal" + std::to_string(depth);
    f.goals->mark_running(id, "t-goal", run);
    // The goal's run has its own task (the goal's prompt), and is as dissonant as ever.
    f.publish(kCognitiveDissonance, f.dissonance(f.goals->get(id).prompt, 1.0, run));
    f.goals->mark_done(id, "no synthesis");
    const PollResult r = m.poll(f.clock.now_ms());
    ASSERT_EQ(r.changes.size(), 1U);
    const Goal child = r.changes[0].goal;
    EXPECT_EQ(child.chain_depth, depth);
    EXPECT_EQ(child.parent_goal.value_or(-1), id);
    EXPECT_EQ(child.theme, f.goals->get(id).theme);  // the chain stays on its theme
    EXPECT_EQ(child.context["task"], "Is a tomato a fruit?");
    if (depth <= 2) {
      EXPECT_EQ(child.status, GoalStatus::kQueued);
    } else {
      EXPECT_EQ(r.changes[0].what, GoalChange::What::kExpired);
      EXPECT_EQ(child.status, GoalStatus::kExpired);
      EXPECT_EQ(child.result,
                "chain depth 3 is past [motivator] max_chain_depth = 2: recorded, never queued");
    }
    id = child.id;
  }
  EXPECT_TRUE(f.goals->list({GoalStatus::kQueued}).empty());
}

TEST(Motivator, AnEventStoredBeforeACrashBecomesExactlyOneGoal) {
  MotiveFixture f("crash");
  {
    // The process that published it dies before its Motivator polls.
    Motivator doomed(test_config(), *f.log, *f.goals);
    f.publish(kCognitiveDissonance, f.dissonance("Is a tomato a fruit?", 0.9, "r-1"));
  }
  f.goals.reset();
  f.log.reset();
  for (int restart = 0; restart < 3; ++restart) {
    f.log = graph::Checkpointer::open(f.db_path);
    f.goals = GoalStore::open(f.db_path, f.clock);
    Motivator m(test_config(), *f.log, *f.goals);
    m.poll(f.clock.now_ms());
    m.poll(f.clock.now_ms());
    EXPECT_EQ(f.goals->list().size(), 1U) << "after restart " << restart;
    f.goals.reset();
    f.log.reset();
  }
}

TEST(Motivator, ManyEventsAreReadInBatchesEachOnce) {
  MotiveFixture f("batches");
  Motivator m(test_config(), *f.log, *f.goals);
  for (int i = 0; i < 300; ++i) {
    f.publish(kToolFailed, f.tool_failed("capability " + std::to_string(i), "no", "r-1"));
  }
  EXPECT_EQ(m.poll(f.clock.now_ms()).changes.size(), 300U);
  EXPECT_EQ(m.poll(f.clock.now_ms()).events_read, 0);
  EXPECT_EQ(f.goals->list({std::nullopt, 1000}).size(), 300U);
}

TEST(Motivator, CuriosityProposesOneReflectionOverTheLastEpisodes) {
  MotiveFixture f("curiosity");
  Motivator m(test_config(), *f.log, *f.goals);
  const std::int64_t start = f.clock.now_ms();
  EXPECT_EQ(m.next_curiosity_ms(), 0);
  EXPECT_TRUE(m.poll(start).changes.empty());  // the first poll starts the timer
  EXPECT_EQ(m.next_curiosity_ms(), start + kHourMs);
  for (int i = 0; i < 7; ++i) f.finish_user_run("task " + std::to_string(i), start + 1000 + i);
  EXPECT_TRUE(m.poll(start + kHourMs - 1).changes.empty());  // not yet
  const PollResult fired = m.poll(start + kHourMs);
  ASSERT_EQ(fired.changes.size(), 1U);
  const Goal reflection = fired.changes[0].goal;
  EXPECT_EQ(reflection.kind, GoalKind::kReflection);
  EXPECT_EQ(reflection.cause_topic, "curiosity");
  ASSERT_EQ(reflection.context["episodes"].size(), 5U);            // reflection_episodes
  EXPECT_EQ(reflection.context["episodes"][0]["task"], "task 6");  // the newest first
  EXPECT_NE(reflection.prompt.find("task 2"), std::string::npos);
  EXPECT_EQ(reflection.prompt.find("task 1"), std::string::npos);
  EXPECT_EQ(m.next_curiosity_ms(), start + 2 * kHourMs);

  // Nothing new from people since: the timer fires and proposes nothing.
  EXPECT_TRUE(m.poll(start + 2 * kHourMs).changes.empty());
  // A new episode: merged into the reflection still queued, never a second one.
  f.finish_user_run("task 7", start + 2 * kHourMs + 5);
  const PollResult again = m.poll(start + 3 * kHourMs);
  ASSERT_EQ(again.changes.size(), 1U);
  EXPECT_EQ(again.changes[0].what, GoalChange::What::kMerged);
  EXPECT_EQ(again.changes[0].goal.id, reflection.id);
  EXPECT_EQ(again.changes[0].goal.context["episodes"][0]["task"], "task 7");
  EXPECT_EQ(f.goals->list().size(), 1U);
}

TEST(Motivator, AGoalsOwnRunIsNoNewsForCuriosity) {
  MotiveFixture f("curiosity-goal-runs");
  Motivator m(test_config(), *f.log, *f.goals);
  const std::int64_t start = f.clock.now_ms();
  m.poll(start);
  NewGoal g;
  g.theme = "user:x";
  g.prompt = "x";
  const Goal goal = f.goals->create(g);
  const std::string run = f.finish_user_run("x", start + 10);
  f.goals->mark_running(goal.id, "t", run);  // it was the goal's run, not a person's
  EXPECT_TRUE(m.poll(start + kHourMs).changes.empty());
}

TEST(Motivator, ThemesIgnoreCaseSpacingAndPunctuation) {
  EXPECT_EQ(normalised_text("  Is a TOMATO,  a fruit?! "), "is a tomato a fruit");
  EXPECT_EQ(theme_of("synthesis", "Is a tomato a fruit?"),
            theme_of("synthesis", "is a tomato a fruit"));
  EXPECT_NE(theme_of("synthesis", "a"), theme_of("capability", "a"));
  EXPECT_EQ(theme_of("synthesis", "x").size(), std::string("synthesis:").size() + 16);
}

}  // namespace
}  // namespace a4ps::motive
