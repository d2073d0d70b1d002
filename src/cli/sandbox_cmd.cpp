// a4ps sandbox check | run: whether the sandbox works here, and running a command under exactly
// the forge's policy (defaults from config.toml's [sandbox]).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_context.h"
#include "core/error.h"
#include "forge/sandbox.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Exit statuses of `a4ps sandbox run` when the command did not exit by itself (documented in
// --help and docs/cli.md).
constexpr int kExitWallTimeout = 124;
constexpr int kExitLimit = 125;
constexpr int kExitStartFailed = 126;

struct RunArgs {
  std::string runtime;
  int64_t wall_ms = 0, cpu_ms = 0, memory_mb = 0, max_processes = 0, max_output_bytes = 0,
          tmp_size_mb = 0;
  std::vector<std::string> files;
  std::string stdin_file;
  bool json = false;
  std::vector<std::string> command;
};

std::string read_host_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_not_found("sandbox run: no such file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// HOSTPATH[:NAME] -> the file placed at /work/NAME (default: the host file's name).
forge::SandboxFile request_file(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  const std::string host = colon == std::string::npos ? spec : spec.substr(0, colon);
  std::string name = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (name.empty()) name = fs::path(host).filename().string();
  return {name, read_host_file(host)};
}

void check(const GlobalOptions& options, bool as_json) {
  const Config config = load_config(options);
  const auto probes = forge::Sandbox::probe_all();
  std::string picked;
  for (const auto& p : probes)
    if (p.works && picked.empty()) picked = std::string(forge::runtime_name(p.runtime));
  if (as_json) {
    json runtimes = json::array();
    for (const auto& p : probes) {
      runtimes.push_back({{"runtime", forge::runtime_name(p.runtime)},
                          {"works", p.works},
                          {"version", p.version},
                          {"reason", p.reason}});
    }
    std::cout << json{{"runtimes", runtimes},
                      {"auto", picked.empty() ? json(nullptr) : json(picked)},
                      {"configured", config.sandbox.runtime}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& p : probes) {
      std::cout << forge::runtime_name(p.runtime) << ": "
                << (p.works ? "works (" + p.version + "); " + p.reason
                            : "does not work: " + p.reason)
                << "\n";
    }
    std::cout << "auto picks: " << (picked.empty() ? "nothing" : picked)
              << "; [sandbox] runtime = " << config.sandbox.runtime << "\n";
  }
  if (picked.empty())
    throw Error(ErrorCode::kUnavailable, "sandbox: no runtime works on this host");
}

int exit_status(const forge::SandboxResult& r) {
  switch (r.stop) {
    case forge::StopReason::kExited:
      return r.exit_code;
    case forge::StopReason::kSignaled:
      return 128 + r.signal;
    case forge::StopReason::kWallTimeout:
      return kExitWallTimeout;
    case forge::StopReason::kStartFailed:
      return kExitStartFailed;
    default:
      return kExitLimit;
  }
}

forge::SandboxRequest request_for(const Config& config, const RunArgs& a) {
  forge::SandboxRequest request;
  request.argv = a.command;
  request.limits = forge::SandboxLimits::from_config(config.sandbox);
  auto set = [](int64_t value, int64_t& limit) {
    if (value != 0) limit = value;
  };
  set(a.wall_ms, request.limits.wall_ms);
  set(a.cpu_ms, request.limits.cpu_ms);
  set(a.memory_mb, request.limits.memory_mb);
  set(a.max_processes, request.limits.max_processes);
  set(a.max_output_bytes, request.limits.max_output_bytes);
  set(a.tmp_size_mb, request.limits.tmp_size_mb);
  for (const auto& f : a.files) request.files.push_back(request_file(f));
  if (!a.stdin_file.empty()) request.stdin_data = read_host_file(a.stdin_file);
  return request;
}

void run(const GlobalOptions& options, const RunArgs& a) {
  Config config = load_config(options);
  if (!a.runtime.empty()) config.sandbox.runtime = a.runtime;
  const auto sandbox = forge::Sandbox::create(config.sandbox);
  const forge::SandboxResult r = sandbox->run(request_for(config, a));
  if (a.json) {
    std::cout << forge::result_json(r).dump(2) << "\n";
  } else {
    std::cout << r.stdout_text << std::flush;
    std::cerr << r.stderr_text;
    if (!r.stderr_text.empty() && r.stderr_text.back() != '\n') std::cerr << "\n";
    std::cerr << "sandbox: " << forge::stop_reason_name(r.stop)
              << (r.stop == forge::StopReason::kExited ? " " + std::to_string(r.exit_code) : "")
              << " after " << r.duration_ms << " ms in " << r.runtime << ": " << r.detail << "\n";
  }
  const int status = exit_status(r);
  if (status != 0) throw CLI::RuntimeError(status);
}

}  // namespace

void add_sandbox_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "sandbox", "Check the tool sandbox (gVisor or bubblewrap) and run commands in it");
  cmd->require_subcommand(1);
  auto check_json = std::make_shared<bool>(false);
  CLI::App* check_cmd = cmd->add_subcommand(
      "check", "Probe each runtime: works or why not, version, what enforces the limits");
  check_cmd->add_flag("--json", *check_json, "Print JSON");
  check_cmd->callback([&options, check_json] { check(options, *check_json); });

  auto a = std::make_shared<RunArgs>();
  CLI::App* run_cmd = cmd->add_subcommand(
      "run",
      "Run a command in the sandbox under the forge's policy (limits from [sandbox]).\n"
      "Prints its stdout and stderr (sanitised) and a last line on how it ended. Exit status:\n"
      "the command's own when it exited; 128+N when signal N killed it; 124 at the wall-clock\n"
      "limit; 125 at the CPU, memory or output limit; 126 when the runtime could not start it.\n"
      "\nExamples:\n"
      "  a4ps sandbox run -- /usr/bin/python3 -c 'print(1 + 1)'\n"
      "  a4ps sandbox run --file tool.py --stdin args.json -- /usr/bin/python3 /work/tool.py\n"
      "  a4ps sandbox run --runtime bwrap --wall-ms 2000 --json -- /usr/bin/python3 -c 'while 1: "
      "pass'\n");
  run_cmd->add_option("--runtime", a->runtime, "auto, runsc or bwrap (default: [sandbox] runtime)")
      ->check(CLI::IsMember({"auto", "runsc", "bwrap"}));
  run_cmd->add_option("--wall-ms", a->wall_ms, "Wall-clock limit")->check(at_least(1));
  run_cmd->add_option("--cpu-ms", a->cpu_ms, "CPU-time limit")->check(at_least(1));
  run_cmd->add_option("--memory-mb", a->memory_mb, "Memory limit")->check(at_least(1));
  run_cmd->add_option("--max-processes", a->max_processes, "Process limit")->check(at_least(1));
  run_cmd->add_option("--max-output-bytes", a->max_output_bytes, "Per stream")->check(at_least(1));
  run_cmd->add_option("--tmp-size-mb", a->tmp_size_mb, "Size of /tmp")->check(at_least(1));
  run_cmd->add_option("--file", a->files, "HOSTPATH[:NAME]: placed read-only at /work/NAME");
  run_cmd->add_option("--stdin", a->stdin_file, "A file fed to the command's stdin");
  run_cmd->add_flag("--json", a->json, "Print the result as JSON");
  run_cmd->add_option("command", a->command, "The command and its arguments (after --)")
      ->required();
  run_cmd->callback([&options, a] { run(options, *a); });
}

}  // namespace a4ps::cli
