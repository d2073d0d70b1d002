// forge/sandbox, adversarial: what an untrusted tool may try, run under both runtimes. Each case
// asserts how the run was stopped and that the host was not touched. A runtime whose probe
// fails fails its cases (CI installs both): a sandbox that silently is not there is the bug.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "forge/sandbox.h"

namespace a4ps::forge {
namespace {

namespace fs = std::filesystem;

std::string unique_marker() {
  static std::atomic<int> n{0};
  return "a4ps-adv-marker-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// Host processes whose command line holds `marker`.
int processes_with(const std::string& marker) {
  int found = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find(marker) != std::string::npos) ++found;
  }
  return found;
}

// Where every run directory of this user lies (sandbox_run.cpp).
fs::path run_parent() {
  return fs::temp_directory_path() / ("a4ps-sandbox-" + std::to_string(::geteuid()));
}

// This process's run directories left in the parent.
std::vector<fs::path> run_dirs_left() {
  const std::string prefix = "a4ps-" + std::to_string(::getpid()) + "-";
  std::vector<fs::path> left;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_parent(), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path());
  return left;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class SandboxAdversarial : public ::testing::TestWithParam<SandboxRuntime> {
 protected:
  void SetUp() override {
    for (const RuntimeProbe& p : Sandbox::probe_all()) {
      if (p.runtime != GetParam()) continue;
      ASSERT_TRUE(p.works) << runtime_name(p.runtime) << " does not work here: " << p.reason;
    }
    SandboxConfig config;
    config.runtime = std::string(runtime_name(GetParam()));
    sandbox_ = Sandbox::create(config);
    marker_ = unique_marker();
  }

  static SandboxLimits small_limits() {
    SandboxLimits l;
    l.wall_ms = 4000;
    l.cpu_ms = 1500;
    l.memory_mb = 128;
    l.max_processes = 16;
    l.max_output_bytes = 4096;
    l.tmp_size_mb = 8;
    l.max_open_files = 64;
    l.max_file_mb = 4;
    return l;
  }

  // Runs `script` as /work/t.py with the marker as its first argument (sys.argv[1]).
  SandboxResult run_py(const std::string& script, std::vector<std::string> args = {},
                       const SandboxLimits& limits = small_limits(), bool collect = false) {
    SandboxRequest r;
    r.argv = {"/usr/bin/python3", "/work/t.py", marker_};
    r.argv.insert(r.argv.end(), args.begin(), args.end());
    r.files = {{"t.py", "import os, sys, time, socket, signal, errno\n" + script}};
    r.limits = limits;
    r.collect_outputs = collect;
    SandboxResult result = sandbox_->run(r);
    EXPECT_EQ(processes_with(marker_), 0) << "something of the run survived it";
    return result;
  }

  static std::string describe(const SandboxResult& r) {
    return std::string(stop_reason_name(r.stop)) + " (" + r.detail + ")\nstdout: " + r.stdout_text +
           "\nstderr: " + r.stderr_text;
  }

  std::unique_ptr<Sandbox> sandbox_;
  std::string marker_;
};

#define EXPECT_EXITED_0(r) \
  EXPECT_TRUE((r).stop == StopReason::kExited && (r).exit_code == 0) << describe(r)

TEST_P(SandboxAdversarial, runaway_cpu_is_stopped) {
  const SandboxResult r = run_py("while True: pass\n");
  EXPECT_TRUE(r.stop == StopReason::kCpuLimit || r.stop == StopReason::kWallTimeout) << describe(r);
}

TEST_P(SandboxAdversarial, a_process_ignoring_sigterm_is_killed_at_the_wall_limit) {
  SandboxLimits l = small_limits();
  l.wall_ms = 1500;
  const SandboxResult r =
      run_py("signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)\n", {}, l);
  EXPECT_EQ(r.stop, StopReason::kWallTimeout) << describe(r);
}

TEST_P(SandboxAdversarial, a_daemon_that_outlives_its_parent_does_not_survive_the_run) {
  const SandboxResult r = run_py(
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        os.execv('/usr/bin/python3', ['python3', '-c', 'import time; time.sleep(60)',"
      " sys.argv[1]])\n"
      "    os._exit(0)\n"
      "time.sleep(0.3)\nprint('parent done')\n");
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("parent done"), std::string::npos);
}

TEST_P(SandboxAdversarial, a_fork_bomb_is_contained) {
  const SandboxResult r = run_py(
      "n = 0\n"
      "for i in range(500):\n"
      "    try:\n"
      "        if os.fork() == 0:\n"
      "            time.sleep(5); os._exit(0)\n"
      "        n += 1\n"
      "    except OSError as e:\n"
      "        break\n"
      "print('forked', n)\n");
  EXPECT_EXITED_0(r);
  const size_t at = r.stdout_text.find("forked ");
  ASSERT_NE(at, std::string::npos) << describe(r);
  EXPECT_LT(std::stoi(r.stdout_text.substr(at + 7)), 16) << describe(r);
}

TEST_P(SandboxAdversarial, a_thread_bomb_is_contained) {
  const SandboxResult r = run_py(
      "import threading\nn = 0\n"
      "try:\n"
      "    for i in range(5000):\n"
      "        threading.Thread(target=time.sleep, args=(3,), daemon=True).start(); n += 1\n"
      "except (RuntimeError, MemoryError) as e:\n"
      "    pass\n"
      "print('threads', n)\nsys.stdout.flush()\nos._exit(0)\n");
  EXPECT_EXITED_0(r);
  const size_t at = r.stdout_text.find("threads ");
  ASSERT_NE(at, std::string::npos) << describe(r);
  EXPECT_LT(std::stoi(r.stdout_text.substr(at + 8)), 100) << describe(r);
}

TEST_P(SandboxAdversarial, a_memory_bomb_hits_the_memory_limit) {
  const SandboxResult r = run_py("a = []\nwhile True: a.append(bytearray(8 * 1024 * 1024))\n");
  EXPECT_EQ(r.stop, StopReason::kMemoryLimit) << describe(r);
}

TEST_P(SandboxAdversarial, filling_tmp_fails_inside) {
  const SandboxResult r = run_py(
      "try:\n"
      "    with open('/tmp/fill', 'wb') as f:\n"
      "        while True: f.write(b'x' * 65536); f.flush()\n"
      "except OSError as e:\n"
      "    print('stopped', errno.errorcode[e.errno])\n");
  EXPECT_EXITED_0(r);
  EXPECT_TRUE(r.stdout_text.find("stopped ENOSPC") != std::string::npos ||
              r.stdout_text.find("stopped EFBIG") != std::string::npos)
      << describe(r);
}

TEST_P(SandboxAdversarial, filling_out_on_the_host_disk_is_stopped) {
  const SandboxResult r = run_py(
      "i = 0\n"
      "while True:\n"
      "    with open('/out/f%d' % i, 'wb') as f: f.write(b'x' * 1024 * 1024)\n"
      "    i += 1\n",
      {}, small_limits(), /*collect=*/true);
  EXPECT_EQ(r.stop, StopReason::kOutputLimit) << describe(r);
}

TEST_P(SandboxAdversarial, an_unreadable_directory_in_out_hides_nothing_from_the_cap) {
  // 0300: the host (when not root) can neither list it nor, without help, remove it.
  const SandboxResult r = run_py(
      "os.makedirs('/out/hidden/deeper')\n"
      "os.chmod('/out/hidden/deeper', 0o300)\n"
      "os.chmod('/out/hidden', 0o300)\n"
      "i = 0\n"
      "while True:\n"
      "    with open('/out/hidden/deeper/f%d' % i, 'wb') as f: f.write(b'x' * 1024 * 1024)\n"
      "    i += 1\n",
      {}, small_limits(), /*collect=*/true);
  EXPECT_EQ(r.stop, StopReason::kOutputLimit) << describe(r);
  EXPECT_TRUE(run_dirs_left().empty()) << run_dirs_left()[0];
}

TEST_P(SandboxAdversarial, without_collect_outputs_there_is_no_out) {
  const SandboxResult r = run_py(
      "try: open('/out/x', 'w').write('x'); print('WRITTEN')\n"
      "except OSError as e: print('refused', e.strerror)\n");
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("refused"), std::string::npos) << describe(r);
}

TEST_P(SandboxAdversarial, a_setuid_binary_planted_in_out_is_out_of_other_users_reach) {
  SandboxLimits l = small_limits();
  l.wall_ms = 15000;
  SandboxResult r;
  std::thread run([&] {
    r = run_py(
        "import shutil\n"
        "shutil.copy('/usr/bin/id', '/out/id')\n"
        "os.chmod('/out/id', 0o4755)\n"
        "open('/out/ready', 'w').close()\n"
        "t = time.time()\n"
        "while not os.path.exists('/out/done') and time.time() - t < 3: time.sleep(0.02)\n"
        "print('planted')\n",
        {}, l, /*collect=*/true);
  });
  // The run directory, seen from the host while the run goes on.
  fs::path out;
  for (int i = 0; i < 1000 && out.empty(); ++i) {
    for (const fs::path& dir : run_dirs_left())
      if (fs::exists(dir / "out" / "ready")) out = dir / "out";
    if (out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  struct stat st {};
  ASSERT_EQ(::lstat(run_parent().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  if (!out.empty() && ::geteuid() == 0) {
    // Another user (nobody) cannot execute it: the private parent stops the path lookup.
    const std::string path = (out / "id").string();
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(50);
      ::execl(path.c_str(), "id", "-u", static_cast<char*>(nullptr));
      ::_exit(errno == EACCES ? 42 : 43);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42)
        << "nobody could reach or run " << path << " (status " << status << ")";
  }
  if (!out.empty()) std::ofstream(out / "done") << "";
  run.join();
  EXPECT_FALSE(out.empty()) << "the run's out/ was not found under " << run_parent();
  EXPECT_EXITED_0(r);
  EXPECT_TRUE(run_dirs_left().empty());
}

TEST_P(SandboxAdversarial, file_descriptors_run_out_inside) {
  const SandboxResult r = run_py(
      "fds = []\n"
      "try:\n"
      "    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\n"
      "except OSError as e:\n"
      "    print('opened', len(fds), errno.errorcode[e.errno])\n");
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("EMFILE"), std::string::npos) << describe(r);
}

TEST_P(SandboxAdversarial, gigabytes_of_output_stop_at_the_output_limit) {
  const SandboxResult r = run_py("while True: sys.stdout.write('x' * 65536)\n");
  EXPECT_EQ(r.stop, StopReason::kOutputLimit) << describe(r);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_LE(r.stdout_text.size(), 4096u + 64u);
}

TEST_P(SandboxAdversarial, a_flood_on_stderr_stops_at_the_output_limit) {
  const SandboxResult r = run_py("while True: sys.stderr.write('e' * 65536)\n");
  EXPECT_EQ(r.stop, StopReason::kOutputLimit) << describe(r);
  EXPECT_TRUE(r.stderr_truncated);
}

TEST_P(SandboxAdversarial, a_tool_that_never_reads_its_large_stdin_ends_normally) {
  SandboxRequest r;
  r.argv = {"/usr/bin/python3", "-c", "import os; os.close(0); print('closed')"};
  r.stdin_data.assign(8 << 20, 'i');  // more than a pipe holds: our write meets a closed pipe
  r.limits = small_limits();
  const SandboxResult result = sandbox_->run(r);
  EXPECT_EXITED_0(result);  // and SIGPIPE did not kill this process
  EXPECT_EQ(result.stdout_text, "closed\n");
}

TEST_P(SandboxAdversarial, binary_and_terminal_escapes_are_sanitised) {
  const SandboxResult r = run_py(
      "sys.stdout.buffer.write(bytes(range(256)) + b'\\x1b]0;pwned\\x07\\x1b[2J\\r\\x9b1m')\n"
      "sys.stderr.buffer.write(b'\\x1b[31merr\\xff')\n");
  EXPECT_EXITED_0(r);
  for (const std::string* s : {&r.stdout_text, &r.stderr_text}) {
    EXPECT_EQ(s->find('\x1b'), std::string::npos);
    EXPECT_EQ(s->find('\r'), std::string::npos);
    bool t = false;
    EXPECT_EQ(sanitize_output(*s, s->size(), &t), *s) << "not valid, clean UTF-8";
  }
  EXPECT_EQ(r.stdout_text.find("pwned"), std::string::npos);
}

TEST_P(SandboxAdversarial, the_hosts_environment_is_not_inherited) {
  ::setenv("A4PS_TEST_SECRET", "s3cr3t-env-value", 1);
  const SandboxResult r = run_py(
      "print(dict(os.environ))\n"
      "for p in ['/proc/self/environ', '/proc/1/environ']:\n"
      "    try: print(open(p, 'rb').read())\n"
      "    except OSError as e: print(p, e)\n");
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("s3cr3t-env-value"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("'HOME': '/tmp'"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, host_files_cannot_be_read) {
  const fs::path image = fs::temp_directory_path() / (marker_ + "-image");
  fs::create_directories(image);
  std::ofstream(image / "state.db") << "s3cr3t-image-content";
  std::ofstream(image / ".env") << "API_KEY=s3cr3t-dotenv";
  const char* home = std::getenv("HOME");
  const SandboxResult r = run_py(
      "for p in sys.argv[2:]:\n"
      "    try:\n"
      "        if os.path.isdir(p): print(p, os.listdir(p))\n"
      "        else: print(p, open(p, 'rb').read()[:200])\n"
      "    except OSError as e: print(p, 'refused', e.strerror)\n",
      {(image / "state.db").string(), (image / ".env").string(), image.string(), "/etc/shadow",
       "/root", "/root/.bashrc", home != nullptr ? home : "/root", "/etc/hostname",
       "/proc/1/root/etc/shadow", "/sys/fs/cgroup"});
  fs::remove_all(image);
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("s3cr3t"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("/etc/shadow refused"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("root:"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, writes_outside_the_sandbox_do_not_reach_the_host) {
  const fs::path victim = fs::temp_directory_path() / (marker_ + "-victim.txt");
  std::ofstream(victim) << "original";
  const SandboxResult r = run_py(
      "for p in sys.argv[2:]:\n"
      "    try:\n"
      "        open(p, 'w').write('overwritten'); print(p, 'WRITTEN')\n"
      "    except OSError as e: print(p, 'refused')\n",
      {victim.string(), "/usr/evil", "/etc/passwd", "/work/t.py", "/evil", "/proc/sys/x"});
  EXPECT_EQ(read_file(victim), "original");
  fs::remove(victim);
  EXPECT_FALSE(fs::exists("/usr/evil"));
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("/usr/evil WRITTEN"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("/work/t.py WRITTEN"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, links_and_fifos_in_out_are_reported_not_followed) {
  SandboxLimits l = small_limits();
  const SandboxResult r = run_py(
      "os.symlink('/etc/passwd', '/out/passwd_link')\n"
      "os.symlink('/', '/out/root_link')\n"
      "os.mkfifo('/out/fifo')\n"
      "try: os.link('/work/t.py', '/out/hard')\n"
      "except OSError as e: print('hard link refused')\n"
      "os.makedirs('/out/sub')\n"
      "open('/out/sub/result.json', 'w').write('{\"ok\": true}')\n",
      {}, l, /*collect=*/true);
  EXPECT_EXITED_0(r);
  std::map<std::string, SandboxOutputFile> by_path;
  for (const auto& o : r.outputs) {
    by_path[o.path] = o;
    EXPECT_EQ(o.content.find("root:"), std::string::npos) << o.path;
  }
  EXPECT_EQ(by_path["passwd_link"].kind, "symlink");
  EXPECT_EQ(by_path["root_link"].kind, "symlink");
  // gVisor keeps a FIFO made in a bind mount in its own kernel: none reaches the host.
  if (GetParam() == SandboxRuntime::kBwrap || by_path.count("fifo") != 0) {
    EXPECT_EQ(by_path["fifo"].kind, "fifo");
  }
  EXPECT_EQ(by_path["sub/result.json"].kind, "file");
  EXPECT_EQ(by_path["sub/result.json"].content, "{\"ok\": true}");
  if (by_path.count("hard") != 0) {
    EXPECT_EQ(by_path["hard"].kind, "hardlink");
  }
}

TEST_P(SandboxAdversarial, tcp_egress_is_impossible) {
  const SandboxResult r = run_py(
      "for host in ['1.1.1.1', '8.8.8.8', '169.254.169.254']:\n"
      "    try:\n"
      "        socket.create_connection((host, 80), timeout=1); print(host, 'CONNECTED')\n"
      "    except OSError as e: print(host, 'blocked')\n");
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("CONNECTED"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, udp_and_dns_are_impossible) {
  const SandboxResult r = run_py(
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "try: s.sendto(b'x', ('8.8.8.8', 53)); print('UDP SENT')\n"
      "except OSError as e: print('udp blocked')\n"
      "try: print('RESOLVED', socket.getaddrinfo('example.com', 80))\n"
      "except OSError as e: print('dns blocked')\n"
      "print(open('/proc/net/dev').read())\n");
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("udp blocked"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("dns blocked"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, host_loopback_services_are_unreachable) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const SandboxResult r = run_py(
      "try: socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=1);"
      " print('CONNECTED')\n"
      "except OSError as e: print('refused', e)\n",
      {std::to_string(ntohs(addr.sin_port))});
  EXPECT_LT(::accept(listener, nullptr, nullptr), 0) << "the sandbox reached the host listener";
  ::close(listener);
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("refused"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, host_unix_sockets_are_unreachable) {
  const fs::path dir = fs::temp_directory_path() / (marker_ + "-sock");
  fs::create_directories(dir);
  const std::string path = (dir / "s").string();
  const int s1 = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int s2 = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(s1, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  sockaddr_un b{};
  b.sun_family = AF_UNIX;
  const std::string abstract = marker_ + "-abstract";
  std::memcpy(b.sun_path + 1, abstract.data(), abstract.size());
  const auto blen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  ASSERT_EQ(::bind(s2, reinterpret_cast<sockaddr*>(&b), blen), 0);
  ::listen(s1, 8);
  ::listen(s2, 8);
  const SandboxResult r = run_py(
      "for p in [sys.argv[2], '\\0' + sys.argv[3]]:\n"
      "    s = socket.socket(socket.AF_UNIX)\n"
      "    try: s.connect(p); print('CONNECTED')\n"
      "    except OSError as e: print('refused', e.strerror)\n",
      {path, abstract});
  EXPECT_LT(::accept(s1, nullptr, nullptr), 0);
  EXPECT_LT(::accept(s2, nullptr, nullptr), 0);
  ::close(s1);
  ::close(s2);
  fs::remove_all(dir);
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("CONNECTED"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, host_processes_are_invisible_in_proc) {
  ::setenv("A4PS_TEST_SECRET", "s3cr3t-env-value", 1);
  const SandboxResult r = run_py(
      "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
      "print('pids', len(pids))\n"
      "try: print(open('/proc/%s/environ' % sys.argv[2], 'rb').read())\n"
      "except OSError as e: print('refused', e.strerror)\n",
      {std::to_string(::getpid())});
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("s3cr3t"), std::string::npos) << r.stdout_text;
  const size_t at = r.stdout_text.find("pids ");
  ASSERT_NE(at, std::string::npos) << describe(r);
  EXPECT_LT(std::stoi(r.stdout_text.substr(at + 5)), 10) << r.stdout_text;
}

TEST_P(SandboxAdversarial, ptrace_reaches_no_host_process) {
  const SandboxResult r = run_py(
      "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
      "child = os.fork()\n"
      "if child == 0: time.sleep(2); os._exit(0)\n"
      "print('sibling', libc.ptrace(16, child, 0, 0))\n"  // PTRACE_ATTACH
      "print('host', libc.ptrace(16, int(sys.argv[2]), 0, 0), ctypes.get_errno())\n"
      "os.kill(child, 9)\n",
      {std::to_string(::getpid())});
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("host -1"), std::string::npos) << describe(r);
}

TEST_P(SandboxAdversarial, kill_minus_one_leaves_the_host_alone) {
  const pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const SandboxResult r = run_py(
      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
      "for s in [signal.SIGTERM, signal.SIGKILL]:\n"
      "    try: os.kill(-1, s)\n"
      "    except OSError as e: print('kill', e.strerror)\n"
      "print('still here')\n");
  EXPECT_EQ(::kill(sleeper, 0), 0) << "a host process was killed";
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  EXPECT_TRUE(r.stop == StopReason::kExited || r.stop == StopReason::kSignaled) << describe(r);
}

TEST_P(SandboxAdversarial, terminal_injection_fails) {
  const SandboxResult r = run_py(
      "import fcntl, termios\n"
      "for target in ['/dev/tty', 0, 1, 2]:\n"
      "    try:\n"
      "        fd = os.open(target, os.O_RDWR) if isinstance(target, str) else target\n"
      "        fcntl.ioctl(fd, termios.TIOCSTI, b'x'); print(target, 'INJECTED')\n"
      "    except OSError as e: print(target, 'refused')\n");
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("INJECTED"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxAdversarial, privileged_operations_fail) {
  const SandboxResult r = run_py(
      "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
      "print('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n"
      "try: os.setuid(0); print('setuid ALLOWED')\n"
      "except OSError: print('setuid refused')\n"
      "try: os.mknod('/tmp/sda', 0o600 | 0o060000, os.makedev(8, 0))\n"
      "except OSError: print('mknod refused')\n"
      "try: open('/tmp/sda', 'rb').read(1); print('device read ALLOWED')\n"
      "except OSError: print('device refused')\n"
      "try: os.chroot('/tmp'); print('chroot ALLOWED')\n"
      "except OSError: print('chroot refused')\n"
      "print('unshare_user', libc.unshare(0x10000000))\n"
      "print('unshare_net', libc.unshare(0x40000000))\n");
  EXPECT_EXITED_0(r);
  EXPECT_NE(r.stdout_text.find("mount -1"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("ALLOWED"), std::string::npos) << r.stdout_text;
  // gVisor lets nobody make a device node in its tmpfs, but it names no host device: opening it
  // fails. It implements user namespaces inside its own kernel: a new one there gives powers over
  // gVisor's objects only. bwrap runs with --disable-userns: no new namespaces at all.
  if (GetParam() == SandboxRuntime::kBwrap) {
    EXPECT_NE(r.stdout_text.find("unshare_user -1"), std::string::npos) << r.stdout_text;
    EXPECT_NE(r.stdout_text.find("unshare_net -1"), std::string::npos) << r.stdout_text;
  }
}

TEST_P(SandboxAdversarial, zombies_and_orphans_do_not_survive) {
  const SandboxResult r = run_py(
      "for i in range(3):\n"
      "    if os.fork() == 0: os._exit(0)\n"  // zombies: never waited for
      "if os.fork() == 0:\n"
      "    if os.fork() == 0:\n"
      "        os.execv('/usr/bin/sleep', ['sleep', '60', sys.argv[1]])\n"
      "    os._exit(0)\n"  // an orphan
      "time.sleep(0.2)\nprint('done')\n");
  EXPECT_EXITED_0(r);
}

TEST_P(SandboxAdversarial, twenty_concurrent_runs_do_not_see_each_other) {
  std::vector<SandboxResult> results(20);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      SandboxRequest r;
      r.argv = {"/usr/bin/python3", "/work/t.py", std::to_string(i)};
      r.files = {{"t.py",
                  "import sys, os, time\n"
                  "me = sys.argv[1]\n"
                  "open('/tmp/id', 'w').write(me); open('/out/id', 'w').write(me)\n"
                  "time.sleep(0.3)\n"
                  "print(open('/tmp/id').read(), sorted(os.listdir('/out')))\n"}};
      r.limits = small_limits();
      r.limits.wall_ms = 30000;  // twenty starts at once on a small machine take a while
      r.limits.cpu_ms = 10000;
      r.collect_outputs = true;
      results[i] = sandbox_->run(r);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    const SandboxResult& r = results[i];
    EXPECT_EXITED_0(r);
    EXPECT_EQ(r.stdout_text, std::to_string(i) + " ['id']\n") << describe(r);
    ASSERT_EQ(r.outputs.size(), 1u) << describe(r);
    EXPECT_EQ(r.outputs[0].content, std::to_string(i));
  }
}

TEST_P(SandboxAdversarial, nothing_of_a_run_is_left_on_the_host) {
  const SandboxResult r = run_py("open('/out/x', 'w').write('x')\nwhile True: pass\n", {},
                                 small_limits(), /*collect=*/true);
  EXPECT_TRUE(r.stop == StopReason::kCpuLimit || r.stop == StopReason::kWallTimeout) << describe(r);
  const std::string prefix = "a4ps-" + std::to_string(::getpid()) + "-";
  std::error_code ec;
  EXPECT_TRUE(run_dirs_left().empty()) << run_dirs_left()[0];
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path(), ec))
    EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path();
  for (const char* c : {"memory", "pids", "cpuacct"}) {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      if (line.find(std::string(":") + c + ":") == std::string::npos) continue;
      const fs::path dir = fs::path("/sys/fs/cgroup") / c / line.substr(line.rfind(':') + 2);
      for (const auto& e : fs::directory_iterator(dir, ec))
        EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Runtimes, SandboxAdversarial,
                         ::testing::Values(SandboxRuntime::kRunsc, SandboxRuntime::kBwrap),
                         [](const auto& param_info) {
                           return std::string(runtime_name(param_info.param));
                         });

}  // namespace
}  // namespace a4ps::forge
