// The sandbox's start cost: a trivial Python tool (print(json.dumps(...))) started and run to
// completion N times plainly (/usr/bin/python3 spawned here, the reference), under bubblewrap
// and under gVisor; p50 and p95 of each and their ratios to plain python3, in one invocation.
// The "+harness" rows are a registered tool's real call path (forge/harness.h): the harness's
// parent and the child that imports the tool, with the nonce-checked report.
// usage: a4ps_bench_sandbox [N]   (default 30)
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "forge/harness.h"
#include "forge/sandbox.h"

extern char** environ;

namespace {

using namespace a4ps;
using Clock = std::chrono::steady_clock;

constexpr const char* kTool = "import json\nprint(json.dumps({'ok': True, 'n': 42}))\n";

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double plain_python_once() {
  const auto t0 = Clock::now();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1, 0);  // O_WRONLY
  std::string py = "/usr/bin/python3", c = "-c", tool = kTool;
  char* argv[] = {py.data(), c.data(), tool.data(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ) != 0) std::exit(1);
  int status = 0;
  waitpid(pid, &status, 0);
  posix_spawn_file_actions_destroy(&actions);
  return ms_since(t0);
}

double sandboxed_once(const forge::Sandbox& sandbox) {
  forge::SandboxRequest request;
  request.argv = {"/usr/bin/python3", "/work/tool.py"};
  request.files = {{"tool.py", kTool}};
  const auto t0 = Clock::now();
  const forge::SandboxResult r = sandbox.run(request);
  const double ms = ms_since(t0);
  if (!r.succeeded() || r.stdout_text.find("\"ok\": true") == std::string::npos) {
    std::fprintf(stderr, "run failed: %s\n%s\n", r.detail.c_str(), r.stderr_text.c_str());
    std::exit(1);
  }
  return ms;
}

double harness_call_once(const forge::Sandbox& sandbox) {
  const forge::ToolFiles files{"double_it", "def double_it(x):\n    return 2 * x\n", ""};
  const auto t0 = Clock::now();
  const forge::HarnessReport r = forge::call_tool(sandbox, files, {{"x", 21}}, {});
  const double ms = ms_since(t0);
  if (!r.ok || r.result != 42) {
    std::fprintf(stderr, "harness call failed: %s\n", r.problem.c_str());
    std::exit(1);
  }
  return ms;
}

struct Figures {
  double p50, p95;
};

template <typename F>
Figures measure(int n, F once) {
  once();  // warm the page cache
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) ms.push_back(once());
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  };
  return {at(0.5), at(0.95)};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 30;
  const Figures plain = measure(n, plain_python_once);
  std::printf("%-15s %9s %9s %12s %12s\n", "how", "p50 ms", "p95 ms", "p50 ratio", "p95 ratio");
  std::printf("%-15s %9.1f %9.1f %12s %12s\n", "python3", plain.p50, plain.p95, "1.0", "1.0");
  for (const char* runtime : {"bwrap", "runsc"}) {
    SandboxConfig config;
    config.runtime = runtime;
    const auto sandbox = forge::Sandbox::create(config);
    const Figures f = measure(n, [&] { return sandboxed_once(*sandbox); });
    std::printf("%-15s %9.1f %9.1f %12.1f %12.1f\n", runtime, f.p50, f.p95, f.p50 / plain.p50,
                f.p95 / plain.p95);
    const Figures h = measure(n, [&] { return harness_call_once(*sandbox); });
    std::printf("%-15s %9.1f %9.1f %12.1f %12.1f\n", (std::string(runtime) + "+harness").c_str(),
                h.p50, h.p95, h.p50 / plain.p50, h.p95 / plain.p95);
  }
  std::printf("(%d runs each after one warm-up; a trivial json tool, start to exit)\n", n);
  return 0;
}
