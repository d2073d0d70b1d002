// forge/sandbox_run: one run from request to result, the same for both runtimes: a private run
// directory, a cgroup, the launcher under the watchdog, how it ended, the files left in /out,
// and cleanup of all of it whatever happens.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "forge/sandbox_internal.h"

namespace a4ps::forge::detail {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(ErrorCode::kUnavailable, "sandbox: cannot write " + path.string());
}

// The /etc Python and libc look at; nothing of the host's.
void write_etc(const fs::path& etc) {
  fs::create_directory(etc);
  write_text(etc / "passwd",
             "root:x:0:0:root:/root:/usr/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n");
  write_text(etc / "group", "root:x:0:\nnogroup:x:65534:\n");
  write_text(etc / "hosts", "127.0.0.1 localhost sandbox\n::1 localhost\n");
  write_text(etc / "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n");
}

std::string read_limited(int fd, int64_t max_bytes, bool* too_large) {
  std::string content;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    if (static_cast<int64_t>(content.size()) + n > max_bytes) {
      *too_large = true;
      return {};
    }
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

// One entry of /out: links and special files are named, never opened through.
SandboxOutputFile output_file(const fs::path& path, const std::string& relative,
                              int64_t max_bytes) {
  SandboxOutputFile file{relative, "", "file"};
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    file.kind = "unreadable";
  } else if (S_ISLNK(st.st_mode)) {
    file.kind = "symlink";
  } else if (S_ISFIFO(st.st_mode)) {
    file.kind = "fifo";
  } else if (S_ISSOCK(st.st_mode)) {
    file.kind = "socket";
  } else if (!S_ISREG(st.st_mode)) {
    file.kind = "special";
  } else if (st.st_nlink > 1) {
    file.kind = "hardlink";  // may share its inode with a file outside /out
  } else if (st.st_size > max_bytes) {
    file.kind = "too_large";
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat opened {};
    if (fd < 0 || ::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode) ||
        opened.st_ino != st.st_ino) {
      file.kind = "unreadable";
    } else {
      bool too_large = false;
      file.content = read_limited(fd, max_bytes, &too_large);
      if (too_large) file.kind = "too_large";
    }
    if (fd >= 0) ::close(fd);
  }
  return file;
}

// Directories nested deeper than this under /out are not walked (the watchdog counts such a
// tree as over its cap): each level holds one descriptor while it is walked.
constexpr int kMaxTreeDepth = 128;

bool vanished(int error) {
  return error == ENOENT || error == ENOTDIR || error == ELOOP;
}

// Adds up the open directory `fd` (consumed) into `b`; false when it is over the budget or
// could not be read entirely (which counts as over: an unreadable directory must not hide
// what it holds). An entry that vanished while we looked is skipped.
struct TreeBudget {
  int64_t max_bytes = 0;
  int64_t bytes = 0;
  int64_t entries = 0;
};

bool scan_dir(int fd, int depth, TreeBudget& b) {
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return false;
  }
  bool ok = true;
  while (ok) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      ok = errno == 0;
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st {};
    if (++b.entries > kMaxOutEntries) {
      ok = false;
    } else if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ok = vanished(errno);
    } else if ((b.bytes += static_cast<int64_t>(st.st_blocks) * 512) > b.max_bytes) {
      ok = false;
    } else if (S_ISDIR(st.st_mode)) {
      const int sub =
          depth >= kMaxTreeDepth
              ? -1
              : ::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      ok = sub >= 0 ? scan_dir(sub, depth + 1, b) : depth < kMaxTreeDepth && vanished(errno);
    }
  }
  ::closedir(d);
  return ok;
}

// Gives the directory `path_fd` (an O_PATH descriptor, consumed) u+rwx, then the same to every
// directory under it. chmod goes through /proc/self/fd: the descriptor was opened with
// O_NOFOLLOW | O_DIRECTORY, so no link the sandbox planted is ever followed.
void open_up_dir(int path_fd, int depth) {
  struct stat st {};
  if (::fstat(path_fd, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0700) != 0700) {
    const std::string proc = "/proc/self/fd/" + std::to_string(path_fd);
    ::chmod(proc.c_str(), (st.st_mode & 07777) | 0700);
  }
  const int fd = ::openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ::close(path_fd);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return;
  }
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    if (depth >= kMaxTreeDepth) break;
    const int sub = ::openat(::dirfd(d), e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) open_up_dir(sub, depth + 1);
  }
  ::closedir(d);
}

// The private parent of every run directory of this user: $TMPDIR/a4ps-sandbox-<euid>, a real
// directory of ours with mode 0700. Under bwrap the sandbox's uid is our own on the host, so
// whatever it leaves in /out (a setuid copy of python3…) must be out of other users' reach.
fs::path run_parent() {
  std::error_code ec;
  const fs::path base = fs::temp_directory_path(ec);
  const uid_t euid = ::geteuid();
  const fs::path parent = (ec ? fs::path("/tmp") : base) / ("a4ps-sandbox-" + std::to_string(euid));
  if (::mkdir(parent.c_str(), 0700) == 0) {
    ::chmod(parent.c_str(), 0700);  // whatever the umask
  } else if (errno != EEXIST) {
    throw Error(ErrorCode::kUnavailable,
                "sandbox: cannot create " + parent.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  std::string wrong;
  if (::lstat(parent.c_str(), &st) != 0) {
    wrong = std::strerror(errno);
  } else if (!S_ISDIR(st.st_mode)) {
    wrong = S_ISLNK(st.st_mode) ? "it is a symbolic link" : "it is not a directory";
  } else if (st.st_uid != euid) {
    wrong = "it is owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " +
            std::to_string(euid);
  } else if ((st.st_mode & 07777) != 0700) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    wrong = std::string("its mode is ") + mode + ", not 0700";
  }
  if (!wrong.empty())
    throw Error(ErrorCode::kUnavailable, "sandbox: refusing to put run directories in " +
                                             parent.string() + ": " + wrong +
                                             " (remove it, or point TMPDIR elsewhere)");
  return parent;
}

std::string signal_name(int sig) {
  const char* name = ::sigabbrev_np(sig);
  return name != nullptr ? std::string("SIG") + name : "signal " + std::to_string(sig);
}

}  // namespace

std::unique_ptr<RunDir> RunDir::create() {
  static std::atomic<uint64_t> counter{0};
  std::random_device random;
  const std::string id = "a4ps-" + std::to_string(::getpid()) + "-" +
                         std::to_string(counter.fetch_add(1)) + "-" +
                         std::to_string(random() % 1000000);
  std::string templ = (run_parent() / (id + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw Error(ErrorCode::kUnavailable,
                "sandbox: cannot create a run directory " + templ + ": " + std::strerror(errno));
  std::unique_ptr<RunDir> dir(new RunDir(templ, id));
  fs::create_directory(dir->work());
  return dir;
}

RunDir::~RunDir() {
  // The sandbox may have left directories we cannot list or enter (chmod 0300): open them up
  // first, or remove_all fails and the run's files stay behind.
  make_accessible(root_);
  std::error_code ec;
  fs::remove_all(root_, ec);  // does not follow links the sandbox left in out/
  if (ec) log::warn("sandbox: cannot remove " + root_.string() + ": " + ec.message());
}

void RunDir::populate(const SandboxRequest& request) const {
  for (const SandboxFile& file : request.files) {
    const fs::path path = work() / file.path;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec || fs::is_directory(path))
      throw_invalid_argument("sandbox: file \"" + file.path +
                             "\": clashes with another file of the request (a file is also "
                             "named as a directory)");
    write_text(path, file.content);
  }
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(work(), ec)) {
    fs::permissions(entry.path(), entry.is_directory() ? fs::perms(0755) : fs::perms(0644), ec);
  }
  fs::permissions(work(), fs::perms(0755), ec);
  write_etc(etc());
  if (request.collect_outputs) {
    fs::create_directory(out());
    // The sandbox's uid may not own out/: it must be able to write there. The private parent
    // (0700) keeps everyone else out.
    fs::permissions(out(), fs::perms::all);
  }
  fs::permissions(root_, fs::perms(0711), ec);  // runsc's gofer and sandbox must reach in
}

bool tree_over(const fs::path& dir, int64_t max_bytes) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return true;
  TreeBudget budget;
  budget.max_bytes = max_bytes;
  return !scan_dir(fd, 0, budget);
}

void make_accessible(const fs::path& root) {
  const int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) open_up_dir(fd, 0);
}

std::vector<SandboxOutputFile> collect_outputs(const fs::path& out, int64_t max_file_bytes) {
  make_accessible(out);
  std::vector<SandboxOutputFile> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(out, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (files.size() >= 1000) break;
    if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
    const std::string relative = it->path().lexically_relative(out).string();
    files.push_back(output_file(it->path(), relative, max_file_bytes));
  }
  return files;
}

std::vector<std::string> sandbox_env(const SandboxRequest& request) {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin",
                                  "LANG=C.UTF-8",
                                  "HOME=/tmp",
                                  "TMPDIR=/tmp",
                                  "PYTHONDONTWRITEBYTECODE=1",
                                  "PYTHONNOUSERSITE=1",
                                  "PYTHONIOENCODING=utf-8"};
  for (const auto& [name, value] : request.env) env.push_back(name + "=" + value);
  return env;
}

namespace {

bool runtime_failed_to_start(SandboxRuntime runtime, int code, const std::string& err) {
  if (code == 127 && err.find("a4ps sandbox:") != std::string::npos) return true;
  if (runtime == SandboxRuntime::kBwrap) return code == 1 && err.rfind("bwrap: ", 0) == 0;
  return code != 0 && (err.find("creating container:") != std::string::npos ||
                       err.find("starting container:") != std::string::npos ||
                       err.find("running container:") != std::string::npos);
}

// The stop reason when the watchdog ended the run.
void classify_watchdog(const RawRun& raw, const SandboxLimits& limits, SandboxResult& r) {
  switch (raw.watchdog) {
    case WatchdogStop::kWall:
      r.stop = StopReason::kWallTimeout;
      r.detail = "killed after the wall-clock limit of " + std::to_string(limits.wall_ms) + " ms";
      return;
    case WatchdogStop::kCpu:
      r.stop = StopReason::kCpuLimit;
      r.detail =
          "killed after using the CPU-time limit of " + std::to_string(limits.cpu_ms) + " ms";
      return;
    case WatchdogStop::kMemory:
      r.stop = StopReason::kMemoryLimit;
      r.detail = "killed at the memory limit of " + std::to_string(limits.memory_mb) + " MiB";
      return;
    case WatchdogStop::kOutput:
      r.stop = StopReason::kOutputLimit;
      r.detail = "killed for writing more than " + std::to_string(limits.max_output_bytes) +
                 " bytes to " + (raw.stdout_over ? "stdout" : "stderr");
      return;
    case WatchdogStop::kOutDir:
      r.stop = StopReason::kOutputLimit;
      r.detail = "killed for writing more than " + std::to_string(limits.tmp_size_mb) + " MiB or " +
                 std::to_string(kMaxOutEntries) + " files to /out";
      return;
    case WatchdogStop::kNone:
      break;
  }
}

// How the run ended, from the watchdog's verdict, the launcher's status and the cgroup. Both
// launchers report a killed child as exit 128 + signal.
void classify(const RawRun& raw, SandboxRuntime runtime, const SandboxLimits& limits,
              SandboxResult& r) {
  if (raw.watchdog != WatchdogStop::kNone) return classify_watchdog(raw, limits, r);
  int sig = WIFSIGNALED(raw.wait_status) ? WTERMSIG(raw.wait_status) : 0;
  const int code = WIFEXITED(raw.wait_status) ? WEXITSTATUS(raw.wait_status) : -1;
  if (sig == 0 && runtime_failed_to_start(runtime, code, raw.stderr_bytes)) {
    r.stop = StopReason::kStartFailed;
    r.detail = std::string(runtime_name(runtime)) +
               " could not start the command: " + raw.stderr_bytes.substr(0, 300);
    return;
  }
  if (sig == 0 && code > 128 && code <= 128 + 64) sig = code - 128;
  const bool memory_error = code == 1 && raw.stderr_bytes.find("MemoryError") != std::string::npos;
  if (raw.cgroup_memory_hit && (sig != 0 || code != 0)) {
    r.stop = StopReason::kMemoryLimit;
    r.detail = "stopped at the memory limit of " + std::to_string(limits.memory_mb) + " MiB";
  } else if (sig == SIGXCPU || (sig == SIGKILL && raw.cpu_ms >= limits.cpu_ms)) {
    r.stop = StopReason::kCpuLimit;
    r.detail =
        "killed by the kernel at the CPU-time limit of " + std::to_string(limits.cpu_ms) + " ms";
  } else if (memory_error) {
    r.stop = StopReason::kMemoryLimit;
    r.detail = "ran out of memory (MemoryError) under the limit of " +
               std::to_string(limits.memory_mb) + " MiB";
  } else if (sig != 0) {
    r.stop = StopReason::kSignaled;
    r.signal = sig;
    r.detail = "died from " + signal_name(sig);
  } else {
    r.stop = StopReason::kExited;
    r.exit_code = code;
    r.detail = "exited with code " + std::to_string(code);
  }
}

std::string sanitized(const std::string& raw, size_t max, bool over, bool* truncated) {
  std::string text = sanitize_output(raw, max, truncated);
  *truncated = *truncated || over;
  if (*truncated) text += "\n[… output truncated]";
  return text;
}

class SandboxImpl : public Sandbox {
 public:
  explicit SandboxImpl(std::unique_ptr<Runtime> runtime) : runtime_(std::move(runtime)) {}
  SandboxRuntime runtime() const override { return runtime_->kind(); }

  SandboxResult run(const SandboxRequest& request) const override {
    validate_request(request);
    SandboxResult r;
    r.runtime = std::string(runtime_name(runtime_->kind()));
    const SandboxLimits& l = request.limits;
    const auto dir = RunDir::create();
    dir->populate(request);
    std::string why_no_cgroup;
    // runsc's sentry and gofer live in the cgroup too: headroom for their memory and threads.
    const bool runsc = runtime_->kind() == SandboxRuntime::kRunsc;
    const Cgroup::Limits cg{(l.memory_mb + (runsc ? 192 : 16)) * 1024 * 1024,
                            l.max_processes + (runsc ? 256 : 2)};
    std::unique_ptr<Cgroup> cgroup;
    if (host_cgroup_version(nullptr) != CgroupVersion::kNone) {
      cgroup = Cgroup::create(dir->id(), cg, &why_no_cgroup);
      static std::once_flag warned;
      if (cgroup == nullptr)
        std::call_once(warned, [&] {
          log::warn("sandbox: cannot create a cgroup for a run although the host's check could (" +
                    why_no_cgroup +
                    "): such runs are limited by rlimits and the watchdog only (memory and CPU "
                    "polled from /proc, no process-count cgroup)");
        });
    }
    const SpawnSpec spec = runtime_->prepare(request, *dir, cgroup != nullptr);
    // With a cgroup, killing its members kills the whole tree; without, the runtime must.
    std::function<void()> kill_tree;
    if (cgroup == nullptr) kill_tree = [&] { runtime_->kill_tree(*dir); };
    const RawRun raw = run_process(spec, l, request.stdin_data, cgroup.get(), kill_tree,
                                   request.collect_outputs ? dir->out() : fs::path());
    const bool all_dead = cgroup != nullptr && cgroup->kill_all();
    cgroup.reset();  // removes the cgroup
    runtime_->cleanup(*dir, all_dead);
    r.duration_ms = raw.duration_ms;
    if (!raw.started) {
      r.detail = r.runtime + " could not be started: " + raw.start_error;
      return r;
    }
    classify(raw, runtime_->kind(), l, r);
    const auto max = static_cast<size_t>(l.max_output_bytes);
    r.stdout_text = sanitized(raw.stdout_bytes, max, raw.stdout_over, &r.stdout_truncated);
    r.stderr_text = sanitized(raw.stderr_bytes, max, raw.stderr_over, &r.stderr_truncated);
    if (request.collect_outputs) r.outputs = collect_outputs(dir->out(), l.max_file_mb << 20);
    return r;
  }

 private:
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace

std::unique_ptr<Sandbox> make_sandbox(std::unique_ptr<Runtime> runtime) {
  return std::make_unique<SandboxImpl>(std::move(runtime));
}

}  // namespace a4ps::forge::detail
