// graph/worker_pool: threads for the nodes of a super-step. A step's nodes must all run at once
// (one may wait on a model or a tool for long), so a task never waits for a busy thread: an
// idle thread takes it, or a new thread starts. Threads are kept for the next step, since
// starting one costs more than a small node. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace a4ps::graph {

class WorkerPool {
 public:
  // The process's pool; its threads are joined at exit.
  static WorkerPool& shared();

  WorkerPool() = default;
  ~WorkerPool();  // waits for queued tasks, then joins every thread
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts `task` now on a free thread; the future holds its result or exception.
  template <typename T>
  std::future<T> submit(std::function<T()> task) {
    auto packaged = std::make_shared<std::packaged_task<T()>>(std::move(task));
    std::future<T> result = packaged->get_future();
    enqueue([packaged] { (*packaged)(); });
    return result;
  }

 private:
  void enqueue(std::function<void()> task);
  void work();

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  size_t idle_ = 0;                          // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
};

}  // namespace a4ps::graph
