#include "llm/residency.h"

#include <gtest/gtest.h>

#include "llm/model_manager.h"

namespace a4ps::llm {
namespace {

TEST(Residency, EvictsTheLeastRecentlyUsedUntilTheNewModelFits) {
  Residency r(100, BudgetPolicy::kFit);
  EXPECT_TRUE(r.admit("a", 40).empty());
  EXPECT_TRUE(r.admit("b", 40).empty());
  r.touch("a");
  EXPECT_EQ(r.admit("c", 40), std::vector<std::string>{"b"});
  EXPECT_EQ(r.used_bytes(), 80u);
  EXPECT_EQ(r.admit("d", 100), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(r.used_bytes(), 100u);
}

TEST(Residency, SequentialKeepsOnlyOneModel) {
  Residency r(1000, BudgetPolicy::kSequential);
  r.admit("a", 10);
  EXPECT_EQ(r.admit("b", 10), std::vector<std::string>{"a"});
  EXPECT_EQ(r.resident(), std::vector<std::string>{"b"});
}

TEST(Residency, CountsLoadsOfASocraticCycle) {
  const std::vector<std::string> cycle = {"alfred", "babs",  "brick", "robin",
                                          "brick",  "robin", "alfred"};
  const std::map<std::string, uint64_t> costs = {
      {"alfred", 30}, {"babs", 30}, {"brick", 30}, {"robin", 30}};
  std::vector<std::string> twice = cycle;
  twice.insert(twice.end(), cycle.begin(), cycle.end());
  EXPECT_EQ(Residency::count_loads(twice, costs, 120, BudgetPolicy::kFit), 4u);
  // Every request loads, except the second cycle's ALFRED, who follows the first's.
  EXPECT_EQ(Residency::count_loads(twice, costs, 120, BudgetPolicy::kSequential), 13u);
  // Two at a time: brick and robin alternate without reloading, the rest swap.
  EXPECT_GT(Residency::count_loads(twice, costs, 60, BudgetPolicy::kFit), 4u);
}

}  // namespace
}  // namespace a4ps::llm
