// forge/sandbox, adversarial (resources): runaway CPU, SIGTERM, daemons, fork and thread
// bombs, memory, /tmp and /out, descriptors, floods of output and of input, escapes in output.
// Each case asserts how the run was stopped and that the host was not touched.
#include "forge/sandbox_adversarial.h"

namespace a4ps::forge {
namespace {

using namespace adversarial;
namespace fs = std::filesystem;

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

INSTANTIATE_TEST_SUITE_P(Runtimes, SandboxAdversarial,
                         ::testing::Values(SandboxRuntime::kRunsc, SandboxRuntime::kBwrap),
                         adversarial::runtime_test_name);

}  // namespace
}  // namespace a4ps::forge
