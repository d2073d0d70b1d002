// Kills a child process running a multi-step graph at random instants (SIGKILL, no chance to
// clean up), resumes it until it finishes, and checks that the result equals an uninterrupted
// run, that no committed step was lost, and that no journaled model call ran twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "graph/checkpointer.h"
#include "support/test_models.h"

namespace a4ps::graph {
namespace {

using Clock = std::chrono::steady_clock;

pid_t spawn_child(const std::filesystem::path& db, const std::filesystem::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl(A4PS_CRASH_CHILD_BIN, A4PS_CRASH_CHILD_BIN, db.c_str(), log.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

struct Outcome {
  State state;
  size_t checkpoints = 0;
  std::vector<std::pair<std::string, pid_t>> calls;  // the call log, in order
  std::map<std::string, pid_t> journaled;            // model call key -> pid that journaled it
};

Outcome read_outcome(const std::filesystem::path& db, const std::filesystem::path& log) {
  Outcome out;
  auto cp = Checkpointer::open(db);
  out.state = cp->load("crash").state;
  const auto history = cp->history("crash");
  out.checkpoints = history.size();
  for (const CheckpointInfo& c : history) {
    for (const JournalEntry& e : cp->journal("crash", c.id)) {
      if (e.kind == "model") out.journaled[e.value["key"]] = e.value["pid"].get<pid_t>();
    }
  }
  std::ifstream in(log);
  std::string key;
  pid_t pid = 0;
  while (in >> key >> pid) out.calls.emplace_back(key, pid);
  return out;
}

std::filesystem::path trial_dir(const std::string& name) {
  const auto dir = a4ps::testing::scratch_dir() / "crash" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(CrashTest, ResumeAfterKillMatchesUninterruptedRunWithoutRepeatingJournaledCalls) {
  // The fastest of three uninterrupted runs sets the first kill window: the first run of a
  // fresh process image is often several times slower than the rest on a busy machine.
  long run_us = std::numeric_limits<long>::max();
  std::filesystem::path ref_dir;
  for (int i = 0; i < 3; ++i) {
    ref_dir = trial_dir("reference" + std::to_string(i));
    const auto started = Clock::now();
    ASSERT_EQ(wait_exit(spawn_child(ref_dir / "state.db", ref_dir / "calls.log")), 0);
    run_us = std::min<long>(
        run_us,
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  }
  const Outcome reference = read_outcome(ref_dir / "state.db", ref_dir / "calls.log");
  ASSERT_EQ(reference.state["round"], 5);
  ASSERT_EQ(reference.calls.size(), reference.journaled.size());

  std::mt19937 rng(20261124);
  long window_us = run_us;  // shrinks whenever a child finishes before its kill lands
  int kills = 0;
  for (int trial = 0; trial < 50; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const auto dir = trial_dir("trial" + std::to_string(trial));
    const auto db = dir / "state.db";
    const auto log = dir / "calls.log";
    // Up to three kills per trial, then runs to the end.
    int attempts = 0;
    for (;; ++attempts) {
      ASSERT_LT(attempts, 20);
      const pid_t child = spawn_child(db, log);
      if (attempts < 1 + trial % 3) {
        std::uniform_int_distribution<long> when(0, window_us);
        std::this_thread::sleep_for(std::chrono::microseconds(when(rng)));
        kill(child, SIGKILL);
        const int status = wait_exit(child);
        if (status == -SIGKILL) {
          ++kills;
          continue;
        }
        // The run finished before the kill: that was the last run of this trial.
        ASSERT_EQ(status, 0);
        window_us = std::max<long>(window_us * 3 / 4, 1000);
        break;
      }
      ASSERT_EQ(wait_exit(child), 0);
      break;
    }
    const Outcome out = read_outcome(db, log);
    EXPECT_EQ(out.state, reference.state);
    EXPECT_EQ(out.checkpoints, reference.checkpoints);  // no step lost, none doubled
    EXPECT_EQ(out.journaled.size(), reference.journaled.size());
    // A call whose result was journaled by process P never runs again after P ran it.
    std::map<std::string, bool> journaled_seen;
    for (const auto& [key, pid] : out.calls) {
      EXPECT_FALSE(journaled_seen[key])
          << "model call " << key << " ran again in pid " << pid << " after it was journaled";
      if (out.journaled.contains(key) && out.journaled.at(key) == pid) journaled_seen[key] = true;
    }
  }
  EXPECT_GT(kills, 40);  // the kills really landed mid-run
}

}  // namespace
}  // namespace a4ps::graph
