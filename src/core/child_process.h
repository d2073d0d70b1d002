// core/child_process: the one launcher for trusted helper programs A4PS runs (an external
// trainer): a new process group, no inherited descriptors but stdin (/dev/null), stdout and
// stderr (a log file), default signal dispositions and an empty signal mask, a deadline after
// which the whole group is stopped (SIGTERM, then SIGKILL). Untrusted code never runs through
// this: it goes through forge/sandbox.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace a4ps {

struct ChildResult {
  int exit_code = -1;      // the exit status; -1 when killed by a signal
  int signal = 0;          // the signal that ended it, 0 if it exited
  bool timed_out = false;  // stopped at the deadline
  double seconds = 0;
};

// Runs argv[0] (looked up on PATH) with `env` added to this process's environment, its
// stdout and stderr appended to `log`. Throws kInvalidArgument (empty argv), kUnavailable (it
// cannot be started, or the log cannot be opened).
ChildResult run_child(const std::vector<std::string>& argv,
                      const std::map<std::string, std::string>& env,
                      const std::filesystem::path& log, std::chrono::seconds deadline);

// The last `max_bytes` of a log file ("" if it cannot be read), for error messages.
std::string log_tail(const std::filesystem::path& log, size_t max_bytes);

}  // namespace a4ps
