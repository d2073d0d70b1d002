// forge/harness: runs a tool's tests, or one call of a tool, inside the sandbox through the
// harness (src/forge/harness.py), which owns the result channel: A4PS trusts only the report
// that carries this run's nonce, written by the harness's parent process, which never loads the
// generated code. The tool runs in its own process and the tests call it through a JSON proxy,
// so nothing the tool's code does can make a test pass (docs/formats/tools.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "forge/sandbox.h"

namespace a4ps::forge {

// The harness's source, built into the binary.
extern const char kHarnessSource[];

struct ToolFiles {
  std::string name;   // the function in tool.py
  std::string code;   // tool.py
  std::string tests;  // test_tool.py (may be empty for a call)
};

struct HarnessReport {
  bool ok = false;
  std::string problem;  // why not ok: failing tests, a static rejection, a limit, no report
  bool rejected_statically = false;                // refused before running (vacuous tests, syntax)
  nlohmann::json tests = nlohmann::json::array();  // [{"test", "outcome", "message"}]
  nlohmann::json result;                           // a call's result
  std::string output;     // what the generated code printed (sanitised, truncated)
  SandboxResult sandbox;  // how the sandbox run ended

  nlohmann::json to_json() const;
};

// Runs test_tool.py against tool.py. Never throws for anything the code does.
HarnessReport run_tool_tests(const Sandbox& sandbox, const ToolFiles& files,
                             const SandboxLimits& limits);

// Calls files.name(**arguments); `arguments` must be a JSON object.
HarnessReport call_tool(const Sandbox& sandbox, const ToolFiles& files,
                        const nlohmann::json& arguments, const SandboxLimits& limits);

// 32 random hex digits from the OS's CSPRNG.
std::string random_nonce();

}  // namespace a4ps::forge
