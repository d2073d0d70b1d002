// forge/tool_spec: what a forged tool is (name, signature, docstring, examples, code, tests),
// the JSON the author persona writes for one attempt, and the prompts that ask for it. Pure:
// no model calls, no files, so the forge's text can be read and tested on its own.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps::forge {

struct ToolSpec {
  std::string name;       // a Python identifier, lower snake case
  std::string signature;  // "def word_count(text: str) -> int"
  std::string docstring;
  nlohmann::json examples = nlohmann::json::array();  // [{"arguments": {...}, "result": ...}]
  std::string code;                                   // tool.py
  std::string tests;                                  // test_tool.py
};

nlohmann::json to_json(const ToolSpec& spec);
ToolSpec spec_from_json(const nlohmann::json& j);

// Empty when `name` may name a tool (lower snake case, 3..40 characters, starting with a
// letter, not a Python keyword or builtin), else why not.
std::string invalid_tool_name(std::string_view name);

// A valid name derived from `wanted` (or from the capability when `wanted` is unusable),
// made unused by a numeric suffix when `taken` returns true for it.
std::string choose_tool_name(std::string_view wanted, std::string_view capability,
                             const std::function<bool(const std::string&)>& taken);

// The schema of one attempt's answer: {"name", "signature", "docstring", "examples", "code",
// "tests"}.
const nlohmann::json& attempt_schema();

// What went wrong with an attempt, fed back into the next one.
struct AttemptFailure {
  int attempt = 0;
  std::string code;
  std::string tests;
  std::string problem;  // from the harness: the failing tests, tracebacks, truncated
};

// The author's prompt for attempt `attempt` of `capability`; `name` is fixed after the first
// attempt; `previous` holds what the earlier attempts wrote and why they failed.
std::string forge_prompt(std::string_view capability, std::string_view name,
                         const std::vector<AttemptFailure>& previous);

}  // namespace a4ps::forge
