// forge/sandbox_internal: what the sandbox's files share and nothing else includes: the run
// directory, the cgroup around a run, spawning one host process under a watchdog, and the two
// runtimes' command lines. Only these files spawn processes (STYLE.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "forge/sandbox.h"

namespace a4ps::forge::detail {

// The tool interpreter: Debian's python3, never the PATH's (a pyenv shim may come first there).
inline constexpr const char* kPython = "/usr/bin/python3";
// The user and group the sandboxed code runs as ("nobody").
inline constexpr int kNobody = 65534;

// A private directory for one run, removed with everything in it when destroyed, also when
// the run throws. It lies in $TMPDIR/a4ps-sandbox-<euid>/, which must be a real directory of
// this uid with mode 0700 (made so when missing; anything else is refused): nobody else may
// reach what the sandbox writes. Layout:
//   work/ the request's files (bound read-only at /work)
//   out/  only with collect_outputs: bound read-write at /out, collected afterwards
//   etc/  a synthetic /etc (passwd, group, hosts, nsswitch.conf)
//   state/, rootfs/, config.json  runsc's private state, skeleton root and bundle
class RunDir {
 public:
  // Throws kUnavailable when the directory cannot be made, or its parent is not private.
  static std::unique_ptr<RunDir> create();
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path work() const { return root_ / "work"; }
  std::filesystem::path out() const { return root_ / "out"; }
  std::filesystem::path etc() const { return root_ / "etc"; }
  // A short name unique among the runs of all processes on this host ("a4ps-<pid>-<n>-<rand>").
  const std::string& id() const { return id_; }

  // Writes the request's files under work/ (dirs 0755, files 0644) and the synthetic etc/.
  void populate(const SandboxRequest& request) const;

 private:
  RunDir(std::filesystem::path root, std::string id) : root_(std::move(root)), id_(std::move(id)) {}
  std::filesystem::path root_;
  std::string id_;
};

// True when the tree under `dir` holds more than `max_bytes` (allocated) or kMaxOutEntries
// entries, or cannot be read entirely (fail closed: an unreadable directory must not hide its
// contents), never following a link. An entry that vanishes while it is walked is skipped.
bool tree_over(const std::filesystem::path& dir, int64_t max_bytes);

// Gives `root` and every directory under it u+rwx, never following a link, so that whatever
// modes the sandbox left (chmod 0300 …) the tree can be read and removed.
void make_accessible(const std::filesystem::path& root);

// Regular files, links and special files left in `out`, never following a link.
std::vector<SandboxOutputFile> collect_outputs(const std::filesystem::path& out,
                                               int64_t max_file_bytes);

enum class CgroupVersion { kNone, kV1, kV2 };

// A cgroup (v1: memory, pids and cpuacct hierarchies; v2: one delegated directory) around one
// run's process tree, nested under the cgroup this process is in. Removed when destroyed, after
// killing whatever is still in it. Not thread-safe; one per run.
class Cgroup {
 public:
  struct Limits {
    int64_t memory_bytes = 0;
    int64_t max_pids = 0;
  };
  // Null when the host gives us no writable cgroup (`why` then says so).
  static std::unique_ptr<Cgroup> create(const std::string& name, const Limits& limits,
                                        std::string* why);
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  CgroupVersion version() const { return version_; }
  // Moves `pid` into the cgroup; false when the kernel refused.
  bool add(pid_t pid) const;
  // CPU time used by everything in it so far, in nanoseconds.
  int64_t cpu_ns() const;
  // True when the kernel killed or refused memory to something in it for its memory limit.
  bool memory_limit_hit() const;
  // SIGKILLs everything in it until it is empty (bounded; a stuck task is left to the dtor).
  // True when it is empty.
  bool kill_all() const;

 private:
  explicit Cgroup(CgroupVersion version) : version_(version) {}
  CgroupVersion version_;
  std::vector<std::filesystem::path> dirs_;  // v1: memory, pids, cpuacct; v2: one
};

// What enforces limits on this host: "cgroup v1", "cgroup v2" or "rlimits and a watchdog"
// (tries to create and remove a cgroup once per process).
CgroupVersion host_cgroup_version(std::string* why);
std::string_view cgroup_version_name(CgroupVersion version);

// One host process to run: the runtime's launcher (bwrap or runsc) with its arguments.
struct SpawnSpec {
  std::vector<std::string> argv;                 // argv[0] is an absolute path
  std::vector<std::string> env;                  // the launcher's whole environment
  std::vector<std::pair<int, int64_t>> rlimits;  // resource, value (soft = hard)
};

// Why the watchdog stopped a run (kNone: it ended by itself).
enum class WatchdogStop { kNone, kWall, kCpu, kMemory, kOutput, kOutDir };

struct RawRun {
  bool started = false;
  std::string start_error;  // when !started
  int wait_status = 0;      // of the launcher, when started
  WatchdogStop watchdog = WatchdogStop::kNone;
  std::string stdout_bytes;  // at most limits.max_output_bytes + a little
  std::string stderr_bytes;
  bool stdout_over = false;
  bool stderr_over = false;
  int64_t duration_ms = 0;
  int64_t cpu_ms = 0;  // as measured from outside (cgroup or /proc)
  bool cgroup_memory_hit = false;
};

// Spawns `spec` (fork + exec, only async-signal-safe calls between them), feeds it stdin,
// collects its output and enforces limits from outside: wall clock, CPU time and memory (from
// the cgroup when there is one, else from polling the process tree in /proc), output size, and
// the bytes and entries in `out_dir` (none when empty), which is on the host's disk.
// `kill_tree` is called (besides the cgroup-wide and process-group kills) when the watchdog
// stops the run or the launcher has exited. Never throws for what the child does.
RawRun run_process(const SpawnSpec& spec, const SandboxLimits& limits,
                   const std::string& stdin_data, Cgroup* cgroup,
                   const std::function<void()>& kill_tree,
                   const std::filesystem::path& out_dir = {});

// Entries /out may hold; more is treated like too many bytes (an inode flood).
inline constexpr int64_t kMaxOutEntries = 10000;

// Runs a short helper command (runsc kill/delete, version queries) to completion with output
// captured; returns its exit status (-1 when it could not start) and output.
int run_helper(const std::vector<std::string>& argv, std::string* output, int64_t timeout_ms);

// Throws kInvalidArgument for a malformed request (empty argv, a bad file path or env name,
// a limit that is not positive).
void validate_request(const SandboxRequest& request);

// The base environment inside the sandbox plus the request's, as NAME=VALUE.
std::vector<std::string> sandbox_env(const SandboxRequest& request);

// The runtimes: how one run is launched. Thread-safe (stateless).
class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual SandboxRuntime kind() const = 0;
  // The launcher's command line for `request` in `dir` (writes the bundle for runsc).
  virtual SpawnSpec prepare(const SandboxRequest& request, const RunDir& dir,
                            bool have_pids_cgroup) const = 0;
  // Kills what the launcher left behind (runsc's sandbox) when no cgroup holds the tree.
  virtual void kill_tree(const RunDir& dir) const = 0;
  // Removes the runtime's state after the run (runsc delete --force) unless `all_dead`: the
  // cgroup is empty, and the state is the run directory's, removed with it.
  virtual void cleanup(const RunDir& dir, bool all_dead) const = 0;
  // "runsc version …" / "bubblewrap 0.8.0", or why there is none.
  virtual bool installed(std::string* version_or_why) const = 0;
};

std::unique_ptr<Runtime> make_runsc_runtime();
std::unique_ptr<Runtime> make_bwrap_runtime();

// The sandbox over one runtime: run dir, cgroup, spawn, classification, outputs, cleanup.
std::unique_ptr<Sandbox> make_sandbox(std::unique_ptr<Runtime> runtime);

}  // namespace a4ps::forge::detail
