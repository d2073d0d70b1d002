#include "persona/tot.h"

#include <gtest/gtest.h>

namespace a4ps::persona {
namespace {

Thought scored(const std::string& id, double score) {
  Thought t;
  t.id = id;
  t.text = "thought " + id;
  t.score = score;
  return t;
}

TEST(TreeOfThoughts, KeepsTheBestBeamStashesTheRestAndPrunesBelowTheThreshold) {
  TotState s;
  s.candidates = {scored("d1.1", 0.4), scored("d1.2", 0.9), scored("d1.3", 0.1),
                  scored("d1.4", 0.7)};
  select(s, {4, 2, 3, 0.3});
  EXPECT_EQ(s.depth, 1);
  ASSERT_EQ(s.beam.size(), 2u);
  EXPECT_EQ(s.beam[0].id, "d1.2");
  EXPECT_EQ(s.beam[1].id, "d1.4");
  ASSERT_EQ(s.stash.size(), 1u);
  EXPECT_EQ(s.stash[0].id, "d1.1");
  ASSERT_EQ(s.pruned.size(), 1u);
  EXPECT_EQ(s.pruned[0].id, "d1.3");
  EXPECT_TRUE(s.candidates.empty());
  EXPECT_TRUE(should_expand(s, {4, 2, 3, 0.3}));
}

TEST(TreeOfThoughts, BacktracksToTheStashWhenAWholeDepthIsPruned) {
  TotState s;
  s.candidates = {scored("d1.1", 0.8), scored("d1.2", 0.6)};
  select(s, {2, 1, 3, 0.5});
  ASSERT_EQ(s.beam.size(), 1u);
  EXPECT_EQ(s.beam[0].id, "d1.1");
  s.candidates = {scored("d2.1", 0.2), scored("d2.2", 0.1)};
  select(s, {2, 1, 3, 0.5});
  ASSERT_EQ(s.beam.size(), 1u);
  EXPECT_EQ(s.beam[0].id, "d1.2");  // the next best, set aside at depth 1
  EXPECT_TRUE(s.stash.empty());
  EXPECT_EQ(s.pruned.size(), 2u);
  EXPECT_NE(s.notes.back().find("backtracked to d1.2"), std::string::npos) << s.notes.back();
}

TEST(TreeOfThoughts, KeepsTheBestWhenNothingSurvivesAndNothingIsLeft) {
  TotState s;
  s.candidates = {scored("d1.1", 0.1), scored("d1.2", 0.2)};
  select(s, {2, 2, 1, 0.5});
  ASSERT_EQ(s.beam.size(), 1u);
  EXPECT_EQ(s.beam[0].id, "d1.2");
  EXPECT_EQ(s.pruned.size(), 1u);
  EXPECT_FALSE(should_expand(s, {2, 2, 1, 0.5}));
}

TEST(TreeOfThoughts, EqualScoresOrderByIdAndTheStateRoundTripsThroughJson) {
  TotState s;
  s.candidates = {scored("d1.3", 0.5), scored("d1.1", 0.5), scored("d1.2", 0.5)};
  s.candidates[0].line = {"root idea"};
  select(s, {3, 2, 2, 0.3});
  EXPECT_EQ(s.beam[0].id, "d1.1");
  EXPECT_EQ(s.beam[1].id, "d1.2");
  const TotState back = tot_from_json(to_json(s));
  EXPECT_EQ(to_json(back), to_json(s));
  EXPECT_EQ(back.stash[0].line, std::vector<std::string>{"root idea"});
  EXPECT_EQ(tot_from_json(nullptr).depth, 0);
}

}  // namespace
}  // namespace a4ps::persona
