// forge/sandbox, adversarial (escapes): the host's environment, files, network, loopback
// services and sockets, processes, ptrace, kill(-1), the terminal, privileges, what a run leaves
// behind, and twenty runs at once. Each case asserts that the host was not reached.
#include "forge/sandbox_adversarial.h"

namespace a4ps::forge {
namespace {

using namespace adversarial;
namespace fs = std::filesystem;

class SandboxEscape : public SandboxAdversarial {};

TEST_P(SandboxEscape, the_hosts_environment_is_not_inherited) {
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

TEST_P(SandboxEscape, host_files_cannot_be_read) {
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

TEST_P(SandboxEscape, writes_outside_the_sandbox_do_not_reach_the_host) {
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

TEST_P(SandboxEscape, links_and_fifos_in_out_are_reported_not_followed) {
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

TEST_P(SandboxEscape, tcp_egress_is_impossible) {
  const SandboxResult r = run_py(
      "for host in ['1.1.1.1', '8.8.8.8', '169.254.169.254']:\n"
      "    try:\n"
      "        socket.create_connection((host, 80), timeout=1); print(host, 'CONNECTED')\n"
      "    except OSError as e: print(host, 'blocked')\n");
  EXPECT_EXITED_0(r);
  EXPECT_EQ(r.stdout_text.find("CONNECTED"), std::string::npos) << r.stdout_text;
}

TEST_P(SandboxEscape, udp_and_dns_are_impossible) {
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

TEST_P(SandboxEscape, host_loopback_services_are_unreachable) {
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

TEST_P(SandboxEscape, host_unix_sockets_are_unreachable) {
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

TEST_P(SandboxEscape, host_processes_are_invisible_in_proc) {
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

TEST_P(SandboxEscape, ptrace_reaches_no_host_process) {
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

TEST_P(SandboxEscape, kill_minus_one_leaves_the_host_alone) {
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

TEST_P(SandboxEscape, terminal_injection_fails) {
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

TEST_P(SandboxEscape, privileged_operations_fail) {
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

TEST_P(SandboxEscape, zombies_and_orphans_do_not_survive) {
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

TEST_P(SandboxEscape, twenty_concurrent_runs_do_not_see_each_other) {
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

TEST_P(SandboxEscape, nothing_of_a_run_is_left_on_the_host) {
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

INSTANTIATE_TEST_SUITE_P(Runtimes, SandboxEscape,
                         ::testing::Values(SandboxRuntime::kRunsc, SandboxRuntime::kBwrap),
                         adversarial::runtime_test_name);

}  // namespace
}  // namespace a4ps::forge
