#include "forge/tool_forge.h"

#include <regex>

#include "core/error.h"
#include "core/log.h"

namespace a4ps::forge {
namespace {

using nlohmann::json;

constexpr size_t kProblemChars = 1500;  // of one attempt's problem, fed back and published
constexpr size_t kTestMessageChars = 600;

// One attempt's problem as the author will read it: the harness's verdict, then each test that
// did not pass with its message, then the start of what the code printed.
std::string describe_failure(const json& report) {
  std::string text = report.value("problem", "");
  for (const json& t : report.value("tests", json::array())) {
    if (t.value("outcome", "") == "passed") continue;
    text += "\n" + t.value("test", std::string("?")) + " " + t.value("outcome", std::string()) +
            ": " + t.value("message", std::string()).substr(0, kTestMessageChars);
  }
  const std::string output = report.value("output", "");
  if (!output.empty()) text += "\nIt printed: " + output.substr(0, 300);
  return text.substr(0, kProblemChars);
}

bool python_identifier(const std::string& name) {
  static const std::regex identifier("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(name, identifier);
}

// The author's code and tests, with the function renamed when the name it chose was taken or
// unusable ("print" became "tool_print"): every whole-word use of its name.
ToolSpec renamed(ToolSpec spec, const std::string& name) {
  if (!spec.name.empty() && spec.name != name && python_identifier(spec.name)) {
    const std::regex word("\\b" + spec.name + "\\b");
    spec.code = std::regex_replace(spec.code, word, name);
    spec.tests = std::regex_replace(spec.tests, word, name);
  }
  spec.name = name;
  return spec;
}

}  // namespace

OnceFn run_directly() {
  return [](const std::string&, const std::function<json()>& produce) { return produce(); };
}

json ForgeOutcome::to_json() const {
  json j = {{"created", created},
            {"capability", capability},
            {"name", name},
            {"attempts", attempts},
            {"attempt_log", attempt_log}};
  if (tool) j["tool"] = tool->to_json();
  if (!created) j["reason"] = reason;
  return j;
}

ToolForge::ToolForge(ToolRegistry& registry, const Sandbox* sandbox, std::string sandbox_problem,
                     SandboxLimits limits, int max_attempts, motive::EventBus* bus)
    : registry_(registry),
      sandbox_(sandbox),
      sandbox_problem_(std::move(sandbox_problem)),
      limits_(limits),
      max_attempts_(std::max(1, max_attempts)),
      bus_(bus) {}

const Sandbox& ToolForge::sandbox() const {
  if (sandbox_ == nullptr) {
    throw Error(ErrorCode::kUnavailable,
                "the Tool Forge refuses to run generated code without a sandbox: " +
                    sandbox_problem_ + " (see `a4ps sandbox check`)");
  }
  return *sandbox_;
}

json ToolForge::attempt(const ToolSpec& spec, const OnceFn& once, int n) const {
  return once("tool_test", [&] {
    json report = run_tool_tests(sandbox(), {spec.name, spec.code, spec.tests}, limits_).to_json();
    report["attempt"] = n;
    return report;
  });
}

std::string ToolForge::reserve_name(const ForgeRequest& request, const std::string& authors_name,
                                    const OnceFn& once) {
  // Journaled: a resumed run keeps the name even if the registry changed meanwhile. Chosen and
  // reserved under one lock, so that a concurrent forge picks another name.
  const std::string name =
      once("tool_name", [&] {
        const std::string wanted = request.wanted_name.empty() ? authors_name : request.wanted_name;
        std::lock_guard lock(mu_);
        const std::string chosen = choose_tool_name(
            wanted, request.capability,
            [&](const std::string& s) { return forging_.contains(s) || registry_.taken(s); });
        forging_.insert(chosen);
        return json(chosen);
      }).get<std::string>();
  std::lock_guard lock(mu_);
  forging_.insert(name);  // a resumed run's journaled name: reserved until this forge ends
  return name;
}

void ToolForge::release_name(const std::string& name) {
  std::lock_guard lock(mu_);
  forging_.erase(name);
}

void ToolForge::register_tool(ForgeOutcome& out, const ForgeRequest& request, const ToolSpec& spec,
                              const std::string& author, const OnceFn& once) {
  const Provenance provenance{request.capability, author, request.thread_id, request.run_id,
                              out.attempts};
  const json stored = once("tool_register", [&] {
    const ToolVersion v = registry_.add(spec, provenance);
    return json{{"name", v.spec.name}, {"version", v.version}};
  });
  try {
    out.tool = registry_.version(out.name, stored.value("version", 0));
    out.created = true;
  } catch (const Error& e) {
    out.reason = std::string("the registered version vanished from the registry: ") + e.what();
  }
}

ForgeOutcome ToolForge::forge(const ForgeRequest& request, ToolAuthor& author, const OnceFn& once) {
  if (request.capability.empty()) throw_invalid_argument("forge: the capability is empty");
  sandbox();  // refuses before asking the author for anything
  ForgeOutcome out;
  out.capability = request.capability;
  std::vector<AttemptFailure> previous;
  const auto log_attempt = [&](json entry) {
    out.attempt_log.push_back(std::move(entry));
    if (request.on_attempt) request.on_attempt(out.attempt_log.back());
  };
  for (int n = 1; n <= max_attempts_ && !out.created; ++n) {
    out.attempts = n;
    std::string unusable;
    const json answer = author.write(forge_prompt(request.capability, out.name, previous),
                                     attempt_schema(), n, &unusable);
    if (answer.is_null()) {
      const std::string problem = "the answer was not usable JSON: " + unusable;
      log_attempt({{"attempt", n}, {"ok", false}, {"problem", problem}});
      previous.push_back({n, "", "", problem});
      continue;
    }
    ToolSpec spec = spec_from_json(answer);
    if (out.name.empty()) out.name = reserve_name(request, spec.name, once);
    spec = renamed(std::move(spec), out.name);
    const json report = attempt(spec, once, n);
    json entry = {{"attempt", n},
                  {"ok", report.value("ok", false)},
                  {"rejected_statically", report.value("rejected_statically", false)},
                  {"tests", report.value("tests", json::array())},
                  {"sandbox", report.value("sandbox", json::object())}};
    if (report.value("ok", false)) {
      log_attempt(entry);
      register_tool(out, request, spec, author.persona(), once);
      break;
    }
    entry["problem"] = describe_failure(report);
    previous.push_back({n, spec.code, spec.tests, entry["problem"]});
    log_attempt(std::move(entry));
  }
  if (!out.name.empty()) release_name(out.name);
  if (!out.created && out.reason.empty()) {
    out.reason = "no attempt passed its tests in " + std::to_string(out.attempts) +
                 " attempt(s); the last problem: " +
                 (previous.empty() ? std::string("none recorded") : previous.back().problem);
  }
  publish(out, request, once);
  return out;
}

void ToolForge::publish(const ForgeOutcome& outcome, const ForgeRequest& request,
                        const OnceFn& once) const {
  json reasons = json::array();
  for (const json& a : outcome.attempt_log) {
    if (a.contains("problem")) reasons.push_back(a["problem"]);
  }
  json payload = {{"capability", outcome.capability}, {"name", outcome.name},
                  {"attempts", outcome.attempts},     {"reasons", reasons},
                  {"thread", request.thread_id},      {"run", request.run_id}};
  if (outcome.tool) payload["version"] = outcome.tool->version;
  const char* topic = outcome.created ? motive::kToolCreated : motive::kToolFailed;
  if (outcome.created) {
    log::info("forge: created tool " + outcome.name + " in " + std::to_string(outcome.attempts) +
              " attempt(s)");
  } else {
    log::warn("forge: gave up on \"" + outcome.capability + "\": " + outcome.reason);
  }
  if (bus_ == nullptr) return;
  // Published once, even when the step that forged is run again after a crash.
  once("event", [&] {
    bus_->publish(topic, payload);
    return json{{"topic", topic}, {"payload", payload}};
  });
}

HarnessReport ToolForge::call(const std::string& name, const json& arguments,
                              std::optional<int> version) const {
  const ToolVersion v = version ? registry_.version(name, *version) : registry_.get(name);
  return call_tool(sandbox(), registry_.files(v), arguments, limits_);
}

HarnessReport ToolForge::test(const std::string& name) const {
  const ToolVersion v = registry_.get(name);
  return run_tool_tests(sandbox(), registry_.files(v), limits_);
}

}  // namespace a4ps::forge
