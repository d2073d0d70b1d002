// forge/sandbox: names, limits from config, request validation, output sanitising, and picking
// a runtime by probing it under the full policy.
#include "forge/sandbox.h"

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "forge/sandbox_internal.h"

namespace a4ps::forge {

std::string_view runtime_name(SandboxRuntime runtime) {
  return runtime == SandboxRuntime::kRunsc ? "runsc" : "bwrap";
}

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kExited:
      return "exited";
    case StopReason::kSignaled:
      return "signaled";
    case StopReason::kWallTimeout:
      return "wall_timeout";
    case StopReason::kCpuLimit:
      return "cpu_limit";
    case StopReason::kMemoryLimit:
      return "memory_limit";
    case StopReason::kOutputLimit:
      return "output_limit";
    case StopReason::kStartFailed:
      break;
  }
  return "start_failed";
}

SandboxLimits SandboxLimits::from_config(const SandboxConfig& config) {
  SandboxLimits limits;
  limits.wall_ms = config.wall_ms;
  limits.cpu_ms = config.cpu_ms;
  limits.memory_mb = config.memory_mb;
  limits.max_processes = config.max_processes;
  limits.max_output_bytes = config.max_output_bytes;
  limits.tmp_size_mb = config.tmp_size_mb;
  return limits;
}

nlohmann::json result_json(const SandboxResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : r.outputs) {
    outputs.push_back(
        {{"path", valid_utf8(o.path)}, {"kind", o.kind}, {"content", valid_utf8(o.content)}});
  }
  return {{"stop", stop_reason_name(r.stop)},
          {"exit_code", r.exit_code},
          {"signal", r.signal},
          {"stdout", r.stdout_text},
          {"stderr", r.stderr_text},
          {"stdout_truncated", r.stdout_truncated},
          {"stderr_truncated", r.stderr_truncated},
          {"duration_ms", r.duration_ms},
          {"detail", valid_utf8(r.detail)},
          {"runtime", r.runtime},
          {"outputs", outputs}};
}

namespace detail {
namespace {

bool valid_env_name(const std::string& name) {
  if (name.empty() || !(name[0] == '_' || (name[0] >= 'A' && name[0] <= 'Z'))) return false;
  for (char c : name)
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

void check_path(const std::string& path) {
  const std::filesystem::path p(path);
  bool ok = !path.empty() && p.is_relative() && path.find('\0') == std::string::npos;
  for (const auto& part : p)
    if (part == ".." || part == ".") ok = false;
  if (!ok)
    throw_invalid_argument("sandbox: file path \"" + path +
                           "\": must be relative, without \".\" or \"..\" parts");
}

bool is_utf8(const std::string& text) {
  return valid_utf8(text) == text;
}

void check_positive(const char* name, int64_t value) {
  if (value <= 0)
    throw_invalid_argument(std::string("sandbox: limit ") + name + " = " + std::to_string(value) +
                           ": must be a positive integer");
}

}  // namespace

void validate_request(const SandboxRequest& request) {
  if (request.argv.empty() || request.argv[0].empty())
    throw_invalid_argument("sandbox: argv is empty: expected a command to run");
  for (size_t i = 0; i < request.argv.size(); ++i) {
    const std::string& a = request.argv[i];
    if (a.find('\0') != std::string::npos)
      throw_invalid_argument("sandbox: argument " + std::to_string(i) + " holds a NUL byte");
    // runsc's OCI bundle is JSON, which holds only UTF-8; bwrap gets the same rule.
    if (!is_utf8(a))
      throw_invalid_argument("sandbox: argument " + std::to_string(i) + " is not valid UTF-8");
  }
  for (const auto& f : request.files) {
    if (!is_utf8(f.path))
      throw_invalid_argument("sandbox: file path \"" + valid_utf8(f.path) +
                             "\": is not valid UTF-8");
    check_path(f.path);
  }
  for (const auto& [name, value] : request.env) {
    if (!valid_env_name(name))
      throw_invalid_argument("sandbox: environment name \"" + valid_utf8(name) +
                             "\": must match [A-Z_][A-Z0-9_]*");
    if (value.find('\0') != std::string::npos)
      throw_invalid_argument("sandbox: environment value of " + name + " holds a NUL byte");
    if (!is_utf8(value))
      throw_invalid_argument("sandbox: environment value of " + name + " is not valid UTF-8");
  }
  const SandboxLimits& l = request.limits;
  check_positive("wall_ms", l.wall_ms);
  check_positive("cpu_ms", l.cpu_ms);
  check_positive("memory_mb", l.memory_mb);
  check_positive("max_processes", l.max_processes);
  check_positive("max_output_bytes", l.max_output_bytes);
  check_positive("tmp_size_mb", l.tmp_size_mb);
  check_positive("max_open_files", l.max_open_files);
  check_positive("max_file_mb", l.max_file_mb);
}

namespace {

std::unique_ptr<Runtime> make_runtime(SandboxRuntime kind) {
  return kind == SandboxRuntime::kRunsc ? make_runsc_runtime() : make_bwrap_runtime();
}

// A trivial tool under the full policy, which also checks that the policy holds: nobody's
// uid, no network interface but loopback.
constexpr const char* kProbeScript =
    "import os\n"
    "nets = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
    "assert os.getuid() == 65534, 'uid %d' % os.getuid()\n"
    "assert nets == ['lo'], 'network interfaces %s' % nets\n"
    "print('sandbox-ok')\n";

RuntimeProbe probe_uncached(SandboxRuntime kind) {
  RuntimeProbe probe{kind, false, "", ""};
  auto runtime = make_runtime(kind);
  std::string version;
  if (!runtime->installed(&version)) {
    probe.reason = version;
    return probe;
  }
  probe.version = version;
  std::string why_no_cgroup;
  const CgroupVersion cg = host_cgroup_version(&why_no_cgroup);
  SandboxRequest request;
  request.argv = {kPython, "-c", kProbeScript};
  request.limits.wall_ms = 20000;
  const auto sandbox = make_sandbox(std::move(runtime));
  const SandboxResult r = sandbox->run(request);
  if (!r.succeeded() || r.stdout_text.find("sandbox-ok") == std::string::npos) {
    probe.reason = "a trivial tool did not run: " + r.detail +
                   (r.stderr_text.empty() ? "" : ": " + r.stderr_text.substr(0, 400));
    return probe;
  }
  probe.works = true;
  probe.reason =
      cg == CgroupVersion::kNone
          ? "limits enforced by rlimits and a watchdog polling /proc (" + why_no_cgroup + ")"
          : "limits enforced by " + std::string(cgroup_version_name(cg)) +
                ", rlimits and a watchdog";
  return probe;
}

RuntimeProbe probe_cached(SandboxRuntime kind) {
  static std::mutex mu;
  static std::optional<RuntimeProbe> cache[2];
  const auto i = static_cast<size_t>(kind);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (cache[i]) return *cache[i];
  }
  // Not under the lock: a probe is a sandbox start. Two racing probes both store the same.
  RuntimeProbe probe = probe_uncached(kind);
  std::lock_guard<std::mutex> lock(mu);
  if (!cache[i]) cache[i] = probe;
  return *cache[i];
}

}  // namespace
}  // namespace detail

std::vector<RuntimeProbe> Sandbox::probe_all() {
  return {detail::probe_cached(SandboxRuntime::kRunsc),
          detail::probe_cached(SandboxRuntime::kBwrap)};
}

std::unique_ptr<Sandbox> Sandbox::create(const SandboxConfig& config) {
  std::vector<SandboxRuntime> candidates;
  if (config.runtime == "runsc" || config.runtime == "auto")
    candidates.push_back(SandboxRuntime::kRunsc);
  if (config.runtime == "bwrap" || config.runtime == "auto")
    candidates.push_back(SandboxRuntime::kBwrap);
  if (candidates.empty())
    throw_invalid_argument("[sandbox] runtime = \"" + config.runtime +
                           "\": must be auto, runsc or bwrap");
  std::string why;
  for (SandboxRuntime kind : candidates) {
    const RuntimeProbe probe = detail::probe_cached(kind);
    if (probe.works) return detail::make_sandbox(detail::make_runtime(kind));
    why += (why.empty() ? "" : "; ") + std::string(runtime_name(kind)) + ": " + probe.reason;
    log::warn("sandbox: " + std::string(runtime_name(kind)) + " does not work: " + probe.reason);
  }
  throw Error(ErrorCode::kUnavailable, "sandbox: no runtime works (" + why + ")");
}

}  // namespace a4ps::forge
