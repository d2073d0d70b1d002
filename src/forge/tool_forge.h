// forge/tool_forge: the tactical loop (DESIGN.md §7.1), A4PS's `doesNotUnderstand:`. From a
// capability request: a valid, unused name; the author persona writes a spec, the function and
// tests for it; the harness rejects vacuous tests and runs the rest in the sandbox; failures
// (with their error text, truncated) go back to the author, up to [tools] max_attempts; on
// success the tool is registered and immediately callable. TOOL_CREATED or TOOL_FAILED is
// published on the event bus either way. Generated code never runs in the A4PS process.
//
// Thread-safe: forges and calls may run at once (the registry and sandbox are); concurrent
// forges never choose the same name.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "forge/harness.h"
#include "forge/sandbox.h"
#include "forge/tool_registry.h"
#include "motive/event_bus.h"

namespace a4ps::forge {

// The persona that writes a tool: one JSON answer (valid against `schema`) per attempt.
class ToolAuthor {
 public:
  virtual ~ToolAuthor() = default;
  virtual std::string persona() const = 0;  // e.g. "BRICK", recorded as the tool's author
  // The answer to `prompt`, or null with *problem set when the model's output was unusable.
  virtual nlohmann::json write(const std::string& prompt, const nlohmann::json& schema, int attempt,
                               std::string* problem) = 0;
};

// Runs `produce` once: in a workflow run it is journaled (a resumed step replays the result
// instead of running the sandbox again); elsewhere it simply runs.
using OnceFn = std::function<nlohmann::json(const std::string& kind,
                                            const std::function<nlohmann::json()>& produce)>;
OnceFn run_directly();

struct ForgeRequest {
  std::string capability;   // what the tool must do, in words
  std::string wanted_name;  // a name the requester suggested; "" lets the author choose
  std::string thread_id;    // the run that asked ("" from the CLI)
  std::string run_id;
  // Called after each attempt with its log entry (progress for the CLI); may be empty.
  std::function<void(const nlohmann::json&)> on_attempt;
};

struct ForgeOutcome {
  bool created = false;
  std::optional<ToolVersion> tool;  // when created
  std::string capability;
  std::string name;
  int attempts = 0;
  nlohmann::json attempt_log = nlohmann::json::array();  // per attempt: problem, tests, ...
  std::string reason;                                    // why it failed, when !created

  nlohmann::json to_json() const;
};

class ToolForge {
 public:
  // `sandbox` null: the forge refuses to run code, and says `sandbox_problem`.
  ToolForge(ToolRegistry& registry, const Sandbox* sandbox, std::string sandbox_problem,
            SandboxLimits limits, int max_attempts, motive::EventBus* bus);

  // Forges a tool for `request`. Never throws for what the author or the code does; throws
  // kUnavailable when there is no sandbox and kInvalidArgument for an empty capability.
  ForgeOutcome forge(const ForgeRequest& request, ToolAuthor& author,
                     const OnceFn& once = run_directly());

  // Calls the active version of `name` with `arguments` (a JSON object) in the sandbox,
  // after checking its files' hash. Throws kNotFound (no such tool), kDataLoss (files changed),
  // kUnavailable (no sandbox), kInvalidArgument (arguments not an object).
  // `version`: that version rather than the active one (a run calls the version it forged, even
  // if a concurrent forge made a newer one active).
  HarnessReport call(const std::string& name, const nlohmann::json& arguments,
                     std::optional<int> version = std::nullopt) const;
  // Runs the active version's tests again.
  HarnessReport test(const std::string& name) const;

  ToolRegistry& registry() const { return registry_; }
  const Sandbox& sandbox() const;  // throws kUnavailable when there is none
  const SandboxLimits& limits() const { return limits_; }
  bool available() const { return sandbox_ != nullptr; }
  // Why there is no sandbox ("" when there is one).
  const std::string& sandbox_problem() const { return sandbox_problem_; }

 private:
  nlohmann::json attempt(const ToolSpec& spec, const OnceFn& once, int n) const;
  std::string reserve_name(const ForgeRequest& request, const std::string& authors_name,
                           const OnceFn& once);
  void release_name(const std::string& name);
  void register_tool(ForgeOutcome& out, const ForgeRequest& request, const ToolSpec& spec,
                     const std::string& author, const OnceFn& once);
  void publish(const ForgeOutcome& outcome, const ForgeRequest& request, const OnceFn& once) const;

  ToolRegistry& registry_;
  const Sandbox* const sandbox_;
  const std::string sandbox_problem_;
  const SandboxLimits limits_;
  const int max_attempts_;
  motive::EventBus* const bus_;
  std::mutex mu_;
  std::set<std::string> forging_;  // names chosen by forges in progress; guarded by mu_
};

}  // namespace a4ps::forge
