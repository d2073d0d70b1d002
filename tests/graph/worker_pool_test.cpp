#include "graph/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

namespace a4ps::graph {
namespace {

TEST(WorkerPool, EveryTaskStartsAtOnceEvenWhenOthersBlock) {
  WorkerPool pool;
  std::atomic<int> arrived{0};
  std::vector<std::future<int>> results;
  // Each task waits until all eight have started: with fewer threads than tasks, this hangs.
  for (int i = 0; i < 8; ++i) {
    results.push_back(pool.submit<int>([&arrived, i] {
      ++arrived;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < 8 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      return arrived.load() == 8 ? i : -1;
    }));
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(results[static_cast<size_t>(i)].get(), i);
  // Threads are reused for the next round.
  EXPECT_EQ(pool.submit<int>([] { return 42; }).get(), 42);
}

TEST(WorkerPool, AnExceptionReachesTheFuture) {
  WorkerPool pool;
  auto result = pool.submit<int>([]() -> int { throw std::runtime_error("node failed"); });
  EXPECT_THROW(result.get(), std::runtime_error);
}

}  // namespace
}  // namespace a4ps::graph
