// forge/sandbox_process: spawning the runtime's launcher and watching it from outside: stdin,
// stdout and stderr through pipes, the wall clock, CPU time, memory and output size.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "forge/sandbox_internal.h"

namespace a4ps::forge::detail {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct Pipe {
  Fd read_end;
  Fd write_end;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read_end.fd = fds[0];
    write_end.fd = fds[1];
    return true;
  }
};

// Everything the child needs, built before fork: after fork only async-signal-safe calls.
struct ExecImage {
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<std::pair<int, rlim_t>> rlimits;
  int max_fd = 1024;  // the close() loop's bound when close_range is refused
};

ExecImage exec_image(const SpawnSpec& spec) {
  ExecImage image;
  for (const auto& a : spec.argv) image.argv.push_back(const_cast<char*>(a.c_str()));
  image.argv.push_back(nullptr);
  for (const auto& e : spec.env) image.envp.push_back(const_cast<char*>(e.c_str()));
  image.envp.push_back(nullptr);
  for (const auto& [resource, value] : spec.rlimits)
    image.rlimits.emplace_back(resource, static_cast<rlim_t>(value));
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    image.max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  else
    image.max_fd = 1 << 20;
  return image;
}

void write_all_raw(int fd, const char* text) {
  const size_t n = std::strlen(text);
  ssize_t ignored = ::write(fd, text, n);
  (void)ignored;
}

// The child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const ExecImage& image, int in_fd, int out_fd, int err_fd,
                             int sync_fd) {
  ::setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
  // When A4PS started with closed stdio a pipe may sit on 0..3 itself: move all four above 3
  // first, so no dup2 clobbers another's source and none is dup2(fd, fd) (which keeps
  // FD_CLOEXEC). dup2 onto a different descriptor clears FD_CLOEXEC on the copy.
  int fds[4] = {in_fd, out_fd, err_fd, sync_fd};
  for (int& fd : fds) {
    if (fd > 3) continue;
    fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 4);
    if (fd < 0) ::_exit(127);
  }
  for (int target = 0; target < 4; ++target)
    if (::dup2(fds[target], target) < 0) ::_exit(127);
  // Before waiting, drop every other descriptor: a concurrent run's child holding our sync
  // pipe (or we theirs) would deadlock both, held output pipes would delay EOF, and A4PS's
  // own files (not all opened O_CLOEXEC) must not reach the runtime. close_range may be
  // missing (before Linux 5.9) or refused (a container's seccomp filter): close one by one.
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
    for (int fd = 4; fd < image.max_fd; ++fd) ::close(fd);
  // Wait until the parent has put us in the cgroup: what we exec must start inside it.
  char go = 0;
  while (::read(3, &go, 1) < 0 && errno == EINTR) {
  }
  ::close(3);
  for (const auto& [resource, value] : image.rlimits) {
    const rlimit limit{value, value};
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0) {
      write_all_raw(2, "a4ps sandbox: setrlimit failed\n");
      ::_exit(127);
    }
  }
  ::execve(image.argv[0], image.argv.data(), image.envp.data());
  write_all_raw(2, "a4ps sandbox: cannot execute the runtime: ");
  write_all_raw(2, image.argv[0]);
  write_all_raw(2, "\n");
  ::_exit(127);
}

// Sum of RSS (bytes) and CPU (ms) of `root` and its descendants, from /proc: the fallback
// when no cgroup holds the tree.
struct TreeUsage {
  int64_t rss_bytes = 0;
  int64_t cpu_ms = 0;
};

TreeUsage tree_usage(pid_t root) {
  struct Stat {
    pid_t ppid;
    int64_t rss_pages;
    int64_t ticks;
  };
  std::map<pid_t, Stat> all;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() < 22) continue;  // f[0] is field 3 (state)
    all[static_cast<pid_t>(std::stol(name))] = {static_cast<pid_t>(std::stol(f[1])),
                                                std::stoll(f[21]),
                                                std::stoll(f[11]) + std::stoll(f[12])};
  }
  TreeUsage usage;
  std::vector<pid_t> todo{root};
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int64_t hz = ::sysconf(_SC_CLK_TCK);
  for (size_t i = 0; i < todo.size() && i < 100000; ++i) {
    auto it = all.find(todo[i]);
    if (it == all.end()) continue;
    usage.rss_bytes += it->second.rss_pages * page;
    usage.cpu_ms += it->second.ticks * 1000 / hz;
    for (const auto& [pid, s] : all)
      if (s.ppid == todo[i]) todo.push_back(pid);
  }
  return usage;
}

// The watchdog's view of one run while it goes on.
struct Watch {
  const SandboxLimits& limits;
  Cgroup* cgroup;
  pid_t pid;
  Clock::time_point start;
  int64_t cpu_ms = 0;
  const std::filesystem::path& out_dir;
  int64_t last_scan_ms = -1000;
  int64_t last_out_check_ms = 0;

  WatchdogStop check() {
    const int64_t now_ms = ms_since(start);
    if (now_ms >= limits.wall_ms) return WatchdogStop::kWall;
    if (!out_dir.empty() && now_ms - last_out_check_ms >= 100) {
      last_out_check_ms = now_ms;
      if (tree_over(out_dir, limits.tmp_size_mb * 1024 * 1024)) return WatchdogStop::kOutDir;
    }
    if (cgroup != nullptr) {
      cpu_ms = cgroup->cpu_ns() / 1000000;
    } else if (now_ms - last_scan_ms >= 50) {
      // Scanning /proc costs a few ms: a coarser tick than the cgroup's counters.
      last_scan_ms = now_ms;
      const TreeUsage u = tree_usage(pid);
      cpu_ms = std::max(cpu_ms, u.cpu_ms);
      if (u.rss_bytes > limits.memory_mb * 1024 * 1024) return WatchdogStop::kMemory;
    }
    if (cpu_ms >= limits.cpu_ms) return WatchdogStop::kCpu;
    return WatchdogStop::kNone;
  }
};

struct Streams {
  Fd in, out, err;
  const std::string* stdin_data;
  size_t stdin_sent = 0;
};

// Reads what is ready into `into`; false at EOF. Sets *over once more than `max` bytes came.
bool drain(Fd& fd, std::string& into, size_t max, bool* over) {
  char buf[65536];
  const ssize_t n = ::read(fd.fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) {
    fd.reset();
    return false;
  }
  const size_t keep = max + 8 > into.size() ? max + 8 - into.size() : 0;
  into.append(buf, std::min(keep, static_cast<size_t>(n)));
  if (into.size() > max) *over = true;
  return true;
}

// write(2) to a pipe whose reader is gone raises SIGPIPE, which would kill A4PS: block it in
// this thread for the call and consume one it raised.
ssize_t write_no_sigpipe(int fd, const char* data, size_t size) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t w = ::write(fd, data, size);
  const int saved = errno;
  if (w < 0 && errno == EPIPE) {
    const timespec zero{};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return w;
}

// One round of poll over the pipes; returns after at most `tick_ms`.
void pump(Streams& s, RawRun& raw, size_t max, int tick_ms) {
  pollfd fds[3];
  nfds_t n = 0;
  if (s.out.fd >= 0) fds[n++] = {s.out.fd, POLLIN, 0};
  if (s.err.fd >= 0) fds[n++] = {s.err.fd, POLLIN, 0};
  if (s.in.fd >= 0) fds[n++] = {s.in.fd, POLLOUT, 0};
  if (n == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(tick_ms));
    return;
  }
  if (::poll(fds, n, tick_ms) <= 0) return;
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    if (fds[i].fd == s.out.fd) {
      drain(s.out, raw.stdout_bytes, max, &raw.stdout_over);
    } else if (fds[i].fd == s.err.fd) {
      drain(s.err, raw.stderr_bytes, max, &raw.stderr_over);
    } else if ((fds[i].revents & POLLOUT) != 0) {
      const std::string& data = *s.stdin_data;
      const ssize_t w = write_no_sigpipe(s.in.fd, data.data() + s.stdin_sent,
                                         std::min<size_t>(data.size() - s.stdin_sent, 65536));
      if (w > 0) s.stdin_sent += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) s.in.reset();
      if (s.stdin_sent >= data.size()) s.in.reset();
    } else {
      s.in.reset();  // POLLERR/POLLHUP: the reader is gone
    }
  }
}

void kill_everything(pid_t pid, Cgroup* cgroup, const std::function<void()>& kill_tree) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  if (cgroup != nullptr) cgroup->kill_all();
  if (kill_tree) kill_tree();
}

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Forks and execs; on success the parent's ends are in `s` and the child is in the cgroup.
pid_t start_child(const SpawnSpec& spec, Cgroup* cgroup, Streams& s, std::string* error) {
  Pipe in, out, err, sync;
  if (!in.open() || !out.open() || !err.open() || !sync.open()) {
    *error = std::string("cannot create pipes: ") + std::strerror(errno);
    return -1;
  }
  const ExecImage image = exec_image(spec);
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork failed: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0)
    exec_child(image, in.read_end.fd, out.write_end.fd, err.write_end.fd, sync.read_end.fd);
  ::setpgid(pid, pid);  // also here: no window where a kill(-pid) misses it
  in.read_end.reset();
  out.write_end.reset();
  err.write_end.reset();
  sync.read_end.reset();
  if (cgroup != nullptr && !cgroup->add(pid)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    *error = "cannot move the runtime into its cgroup";
    return -1;
  }
  sync.write_end.reset();  // EOF: the child may exec
  std::swap(s.in.fd, in.write_end.fd);
  std::swap(s.out.fd, out.read_end.fd);
  std::swap(s.err.fd, err.read_end.fd);
  set_nonblocking(s.in.fd);
  set_nonblocking(s.out.fd);
  set_nonblocking(s.err.fd);
  if (s.stdin_data->empty()) s.in.reset();
  return pid;
}

bool exited_unreaped(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

}  // namespace

RawRun run_process(const SpawnSpec& spec, const SandboxLimits& limits,
                   const std::string& stdin_data, Cgroup* cgroup,
                   const std::function<void()>& kill_tree, const std::filesystem::path& out_dir) {
  RawRun raw;
  Streams s;
  s.stdin_data = &stdin_data;
  const Clock::time_point start = Clock::now();
  const pid_t pid = start_child(spec, cgroup, s, &raw.start_error);
  if (pid < 0) return raw;
  raw.started = true;
  const size_t max = static_cast<size_t>(limits.max_output_bytes);
  Watch watch{limits, cgroup, pid, start, 0, out_dir};
  // The launcher is reaped only after the last kill: until then its pid (and process group id)
  // cannot be reused, so kill(-pid) never reaches an unrelated process.
  while (!exited_unreaped(pid)) {
    pump(s, raw, max, 10);
    WatchdogStop stop = watch.check();
    if (stop == WatchdogStop::kNone && (raw.stdout_over || raw.stderr_over))
      stop = WatchdogStop::kOutput;
    if (stop != WatchdogStop::kNone) {
      raw.watchdog = stop;
      kill_everything(pid, cgroup, kill_tree);
      break;
    }
  }
  raw.cpu_ms = watch.cpu_ms;
  if (cgroup != nullptr) {
    raw.cpu_ms = std::max(raw.cpu_ms, cgroup->cpu_ns() / 1000000);
    raw.cgroup_memory_hit = cgroup->memory_limit_hit();
  }
  // Whatever the launcher left running (daemons, a runsc sandbox) goes now; then the pipes
  // reach EOF (bounded: a stray holder of the write end cannot keep us here).
  // runsc's own kill is only needed when we stopped it: a container that exited is gone.
  kill_everything(pid, cgroup, raw.watchdog != WatchdogStop::kNone ? kill_tree : nullptr);
  while (::waitpid(pid, &raw.wait_status, 0) < 0 && errno == EINTR) {
  }
  const Clock::time_point drain_start = Clock::now();
  while ((s.out.fd >= 0 || s.err.fd >= 0) && ms_since(drain_start) < 500) {
    s.in.reset();
    pump(s, raw, max, 10);
  }
  raw.duration_ms = ms_since(start);
  return raw;
}

int run_helper(const std::vector<std::string>& argv, std::string* output, int64_t timeout_ms) {
  SpawnSpec spec;
  spec.argv = argv;
  spec.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  SandboxLimits limits;
  limits.wall_ms = timeout_ms;
  limits.cpu_ms = timeout_ms * 4;
  limits.memory_mb = 1 << 20;
  limits.max_output_bytes = 1 << 20;
  const RawRun raw = run_process(spec, limits, "", nullptr, nullptr);
  if (output != nullptr) *output = raw.stdout_bytes + raw.stderr_bytes;
  if (!raw.started) {
    if (output != nullptr) *output = raw.start_error;
    return -1;
  }
  if (raw.watchdog != WatchdogStop::kNone) return -1;
  if (WIFEXITED(raw.wait_status)) return WEXITSTATUS(raw.wait_status);
  return -1;
}

}  // namespace a4ps::forge::detail
