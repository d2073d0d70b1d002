// The child of the crash test: runs (or resumes) the crash-test graph on thread "crash" of a
// state.db, so that the parent can kill it with SIGKILL at any instant and start it again.
// Usage: a4ps_crash_child STATE_DB CALL_LOG. Exit 0 when the thread's run is done.
#include <iostream>

#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "support/crash_graph.h"

int main(int argc, char** argv) {
  using namespace a4ps::graph;
  if (argc != 3) {
    std::cerr << "usage: a4ps_crash_child STATE_DB CALL_LOG\n";
    return 2;
  }
  try {
    auto checkpointer = Checkpointer::open(argv[1]);
    const CompiledGraph graph = a4ps::testing::crash_test_graph(argv[2]);
    checkpointer->recover_crashed_runs();
    const auto thread = checkpointer->find_thread("crash");
    RunResult result;
    if (!thread || thread->last_checkpoint < 0) {
      result = start_run(graph, *checkpointer, "crash", {{"round", 0}});
    } else if (checkpointer->load("crash").info.pending.empty()) {
      return 0;
    } else {
      result = resume_run(graph, *checkpointer, "crash");
    }
    if (result.status != RunStatus::kDone) {
      std::cerr << "run ended " << run_status_name(result.status) << ": " << result.error << "\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "crash child: " << e.what() << "\n";
    return 1;
  }
}
