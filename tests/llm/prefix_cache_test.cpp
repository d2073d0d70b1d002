#include "llm/prefix_cache.h"

#include <gtest/gtest.h>

namespace a4ps::llm {
namespace {

TEST(PrefixCache, StaysWithinItsCapacityEvictingTheLeastRecentlyUsed) {
  PrefixCache cache(100);
  cache.insert("a", PrefixCache::State(40));
  cache.insert("b", PrefixCache::State(40));
  ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recent
  cache.insert("c", PrefixCache::State(40));
  EXPECT_EQ(cache.find("b"), nullptr);
  EXPECT_NE(cache.find("a"), nullptr);
  EXPECT_LE(cache.bytes(), 100u);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(PrefixCache, RefusesAStateLargerThanTheWholeCache) {
  PrefixCache cache(10);
  cache.insert("big", PrefixCache::State(11));
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(PrefixCache, ErasePrefixInvalidatesAModelsEntries) {
  PrefixCache cache(100);
  cache.insert("m1|x", PrefixCache::State(1));
  cache.insert("m1|y", PrefixCache::State(1));
  cache.insert("m2|x", PrefixCache::State(1));
  cache.erase_prefix("m1|");
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_NE(cache.find("m2|x"), nullptr);
}

}  // namespace
}  // namespace a4ps::llm
