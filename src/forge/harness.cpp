#include "forge/harness.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <sstream>

#include "core/error.h"
#include "core/json_text.h"

namespace a4ps::forge {
namespace {

using nlohmann::json;

// The harness's own report is bounded (each text in it is cut to 2,000 characters); this much
// room keeps a report with many tests whole whatever max_output_bytes the user chose.
constexpr int64_t kReportBytes = 1 << 20;

// The harness's time for the generated code: the sandbox's wall limit less the interpreter's
// start-up, so that the harness can still report a timeout itself.
double harness_timeout_s(const SandboxLimits& limits) {
  const double wall_s = static_cast<double>(limits.wall_ms) / 1000.0;
  return std::max(0.2, wall_s * 0.8 - 0.3);
}

// The last stdout line that is a JSON object carrying `nonce`; null when there is none.
json find_report(const std::string& stdout_text, const std::string& nonce) {
  json found;
  std::istringstream lines(stdout_text);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && string_field(j, "nonce") == nonce) found = std::move(j);
  }
  return found;
}

HarnessReport run_harness(const Sandbox& sandbox, const ToolFiles& files, const char* mode,
                          json request, SandboxLimits limits) {
  const std::string nonce = random_nonce();
  request["nonce"] = nonce;
  request["timeout_s"] = harness_timeout_s(limits);
  limits.max_output_bytes = std::max(limits.max_output_bytes, kReportBytes);
  SandboxRequest run;
  // -S: no site module (tools get the standard library only, and start faster).
  run.argv = {"/usr/bin/python3", "-I", "-B", "-S", "/work/harness.py", mode, files.name};
  run.files = {{"harness.py", kHarnessSource}, {"tool.py", files.code}};
  if (!files.tests.empty()) run.files.push_back({"test_tool.py", files.tests});
  run.stdin_data = request.dump();
  run.limits = limits;

  HarnessReport report;
  report.sandbox = sandbox.run(run);
  const json r = find_report(report.sandbox.stdout_text, nonce);
  if (!r.is_object()) {
    report.problem = "the harness wrote no report: " + report.sandbox.detail;
    if (!report.sandbox.stderr_text.empty()) {
      report.problem += "\n" + report.sandbox.stderr_text.substr(0, 1500);
    }
    return report;
  }
  report.ok = r.value("ok", false) && report.sandbox.succeeded();
  report.problem = string_field(r, "problem");
  if (!report.ok && report.problem.empty()) report.problem = report.sandbox.detail;
  report.rejected_statically = r.value("static", false);
  if (r.contains("tests") && r["tests"].is_array()) report.tests = r["tests"];
  if (r.contains("result")) report.result = r["result"];
  report.output = string_field(r, "output");
  return report;
}

}  // namespace

json HarnessReport::to_json() const {
  json j = {{"ok", ok},
            {"problem", problem},
            {"rejected_statically", rejected_statically},
            {"tests", tests},
            {"output", output},
            {"sandbox",
             {{"runtime", sandbox.runtime},
              {"stop", stop_reason_name(sandbox.stop)},
              {"exit_code", sandbox.exit_code},
              {"duration_ms", sandbox.duration_ms},
              {"detail", sandbox.detail}}}};
  if (!result.is_null()) j["result"] = result;
  return j;
}

HarnessReport run_tool_tests(const Sandbox& sandbox, const ToolFiles& files,
                             const SandboxLimits& limits) {
  return run_harness(sandbox, files, "test", json::object(), limits);
}

HarnessReport call_tool(const Sandbox& sandbox, const ToolFiles& files, const json& arguments,
                        const SandboxLimits& limits) {
  if (!arguments.is_object()) {
    throw_invalid_argument("tool " + files.name + ": arguments " + arguments.dump().substr(0, 200) +
                           ": expected a JSON object of keyword arguments");
  }
  ToolFiles code_only = files;
  code_only.tests.clear();
  return run_harness(sandbox, code_only, "call", {{"arguments", arguments}}, limits);
}

std::string random_nonce() {
  std::array<unsigned char, 16> bytes{};
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n <= 0) throw Error(ErrorCode::kInternal, "getrandom failed for the harness nonce");
    filled += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace a4ps::forge
