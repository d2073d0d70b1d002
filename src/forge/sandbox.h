// forge/sandbox: runs untrusted code (the tools the forge writes) in gVisor (`runsc`) or
// bubblewrap, never inside the A4PS process. The policy is A4PS's, the same for both runtimes,
// and enforced from outside the sandbox because neither runtime enforces it alone:
//   * an allow-listed environment (PATH, LANG, HOME=/tmp, PYTHON* switches), nothing inherited;
//   * a minimal read-only file-system view: the interpreter's /usr (+ the /lib, /bin links), a
//     synthetic /etc with only what Python needs; no home, no image directory, no secrets;
//   * /work (the request's files, read-only), /out (only with collect_outputs: writable,
//     collected afterwards without following links) and a private writable /tmp with a size
//     cap; on the host every run's directory lies in a private 0700 parent;
//   * no network, ever: runs refuse to start if a network namespace cannot be guaranteed;
//   * wall-clock, CPU, memory, process-count, open-file, file-size and output-size limits,
//     enforced with cgroups where the host lets us, rlimits, and a watchdog that kills the
//     whole process tree;
//   * stdout and stderr truncated and sanitised (no terminal escapes, valid UTF-8) before they
//     reach a log, a journal or a model.
// Only this module spawns processes (STYLE.md). Thread-safe: one Sandbox may run many requests
// at once; each run has its own directories and container.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace a4ps::forge {

enum class SandboxRuntime { kRunsc, kBwrap };

// "runsc" / "bwrap".
std::string_view runtime_name(SandboxRuntime runtime);

struct SandboxLimits {
  int64_t wall_ms = 10000;
  int64_t cpu_ms = 5000;
  int64_t memory_mb = 512;
  int64_t max_processes = 32;
  int64_t max_output_bytes = 65536;  // per stream (stdout, stderr)
  int64_t tmp_size_mb = 64;          // /tmp, and /out (on the host's disk) separately
  int64_t max_open_files = 64;
  int64_t max_file_mb = 16;  // largest single file a process may write

  static SandboxLimits from_config(const SandboxConfig& config);
};

// A file placed in the sandbox's read-only /work before the run.
struct SandboxFile {
  std::string path;  // relative, no "..": "tool.py", "pkg/util.py"
  std::string content;
};

struct SandboxRequest {
  // argv[0] is a path inside the sandbox or a name looked up on the sandbox's PATH.
  std::vector<std::string> argv;
  std::vector<SandboxFile> files;
  std::string stdin_data;
  // Added to the allow-listed base environment; names must be [A-Z_][A-Z0-9_]*.
  std::vector<std::pair<std::string, std::string>> env;
  SandboxLimits limits;
  // When true, the sandbox gets a writable /out (on the host's disk, capped at
  // limits.tmp_size_mb) and the regular files left there are returned (links and special files
  // are reported, never followed). When false there is no /out: nothing host-writable at all.
  bool collect_outputs = false;
};

enum class StopReason {
  kExited,       // the process ended by itself (see exit_code)
  kSignaled,     // it died from a signal it did not get from the watchdog (see signal)
  kWallTimeout,  // the watchdog killed it at limits.wall_ms
  kCpuLimit,     // it used limits.cpu_ms of CPU time
  kMemoryLimit,  // it reached limits.memory_mb
  kOutputLimit,  // it wrote more than limits.max_output_bytes to stdout or stderr, or
                 // more than limits.tmp_size_mb (or 10,000 files) to /out
  kStartFailed,  // the runtime could not start it (see detail)
};

// "exited", "signaled", "wall_timeout", "cpu_limit", "memory_limit", "output_limit",
// "start_failed".
std::string_view stop_reason_name(StopReason reason);

struct SandboxOutputFile {
  std::string path;     // relative to /out
  std::string content;  // empty unless kind == "file"
  std::string kind;  // "file", or what was refused: "symlink", "hardlink", "fifo", "too_large"…
};

struct SandboxResult {
  StopReason stop = StopReason::kStartFailed;
  int exit_code = -1;       // when stop == kExited
  int signal = 0;           // when stop == kSignaled
  std::string stdout_text;  // sanitised, at most limits.max_output_bytes (+ a truncation mark)
  std::string stderr_text;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  int64_t duration_ms = 0;
  std::string detail;   // one sentence on how it ended, for users and logs
  std::string runtime;  // "runsc" or "bwrap"
  std::vector<SandboxOutputFile> outputs;

  bool succeeded() const { return stop == StopReason::kExited && exit_code == 0; }
};

// The result as JSON, one shape for the CLI and the forge: stop (stop_reason_name), exit_code,
// signal, stdout, stderr, *_truncated, duration_ms, detail, runtime, outputs [{path, kind,
// content}] (content made valid UTF-8).
nlohmann::json result_json(const SandboxResult& result);

// Whether a runtime works on this host, and if not, why (for `a4ps sandbox check`).
struct RuntimeProbe {
  SandboxRuntime runtime;
  bool works = false;
  std::string version;  // as the runtime reports it
  std::string reason;   // why it does not work, or what enforces the limits when it does
};

class Sandbox {
 public:
  // Picks the runtime config.runtime names ("auto": runsc if its probe passes, else bwrap).
  // Throws a4ps::Error kUnavailable naming each candidate runtime and why it does not work.
  static std::unique_ptr<Sandbox> create(const SandboxConfig& config);

  // Probes both runtimes by running a trivial command under the full policy.
  static std::vector<RuntimeProbe> probe_all();

  virtual ~Sandbox() = default;
  virtual SandboxRuntime runtime() const = 0;
  // Runs the request to completion under its limits. Never throws for anything the sandboxed
  // code does; a runtime that fails to start is StopReason::kStartFailed. Throws
  // kInvalidArgument for a malformed request (empty argv, a file path with "..", a bad env
  // name). Safe to call from many threads at once.
  virtual SandboxResult run(const SandboxRequest& request) const = 0;
};

// Makes `text` safe to show a terminal, a log or a model: valid UTF-8 (bad bytes become
// U+FFFD), no escape sequences or control characters but \n and \t, at most `max_bytes` bytes
// (cut on a character boundary). Sets *truncated when anything was cut.
std::string sanitize_output(std::string_view text, std::size_t max_bytes, bool* truncated);

}  // namespace a4ps::forge
