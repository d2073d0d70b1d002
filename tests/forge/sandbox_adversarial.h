// The adversarial sandbox suite's fixture (tests/forge/sandbox_*_test.cpp): each case runs a
// Python script as an untrusted tool under one runtime, with small limits, and checks that
// nothing of the run survives it on the host. A runtime whose probe fails fails its cases (CI
// installs both): a sandbox that silently is not there is the bug.
#pragma once

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

namespace a4ps::forge::adversarial {

namespace fs = std::filesystem;

inline std::string unique_marker() {
  static std::atomic<int> n{0};
  return "a4ps-adv-marker-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// Host processes whose command line holds `marker`.
inline int processes_with(const std::string& marker) {
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
inline fs::path run_parent() {
  return fs::temp_directory_path() / ("a4ps-sandbox-" + std::to_string(::geteuid()));
}

// This process's run directories left in the parent.
inline std::vector<fs::path> run_dirs_left() {
  const std::string prefix = "a4ps-" + std::to_string(::getpid()) + "-";
  std::vector<fs::path> left;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_parent(), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path());
  return left;
}

inline std::string read_file(const fs::path& path) {
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

inline std::string runtime_test_name(const ::testing::TestParamInfo<SandboxRuntime>& info) {
  return std::string(runtime_name(info.param));
}

}  // namespace a4ps::forge::adversarial
