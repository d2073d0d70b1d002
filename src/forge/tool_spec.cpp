#include "forge/tool_spec.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/json_text.h"

namespace a4ps::forge {
namespace {

using nlohmann::json;

constexpr size_t kMinName = 3;
constexpr size_t kMaxName = 40;
constexpr size_t kFeedbackChars = 1500;  // of each earlier attempt's problem, in the prompt

const std::set<std::string, std::less<>>& reserved_names() {
  // Python's keywords and the builtins a tool must not shadow.
  static const std::set<std::string, std::less<>> names = {
      "and",      "as",     "assert", "async",  "await",  "break",  "class",   "continue",
      "def",      "del",    "elif",   "else",   "except", "false",  "finally", "for",
      "from",     "global", "if",     "import", "in",     "is",     "lambda",  "none",
      "nonlocal", "not",    "or",     "pass",   "raise",  "return", "true",    "try",
      "while",    "with",   "yield",  "abs",    "all",    "any",    "bool",    "dict",
      "eval",     "exec",   "float",  "input",  "int",    "len",    "list",    "map",
      "max",      "min",    "open",   "print",  "range",  "set",    "sorted",  "str",
      "sum",      "tuple",  "type",   "zip",    "test",   "tool",   "harness", "json"};
  return names;
}

// Lower snake case from free text: runs of other characters become one '_'.
std::string snake_case(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
    if (out.size() >= kMaxName - 4) break;  // room for a suffix
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  while (!out.empty() && std::isdigit(static_cast<unsigned char>(out.front())) != 0) {
    out.erase(out.begin());
  }
  return out;
}

}  // namespace

json to_json(const ToolSpec& spec) {
  return {{"name", spec.name},         {"signature", spec.signature}, {"docstring", spec.docstring},
          {"examples", spec.examples}, {"code", spec.code},           {"tests", spec.tests}};
}

ToolSpec spec_from_json(const json& j) {
  ToolSpec spec;
  spec.name = string_field(j, "name");
  spec.signature = string_field(j, "signature");
  spec.docstring = string_field(j, "docstring");
  if (j.contains("examples") && j["examples"].is_array()) spec.examples = j["examples"];
  spec.code = string_field(j, "code");
  spec.tests = string_field(j, "tests");
  return spec;
}

std::string invalid_tool_name(std::string_view name) {
  if (name.size() < kMinName || name.size() > kMaxName) {
    return "must be " + std::to_string(kMinName) + " to " + std::to_string(kMaxName) +
           " characters long";
  }
  if (std::islower(static_cast<unsigned char>(name.front())) == 0) {
    return "must start with a lower-case letter";
  }
  const bool snake = std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || std::isdigit(static_cast<unsigned char>(c)) != 0 || (c >= 'a' && c <= 'z');
  });
  if (!snake) return "must hold only lower-case letters, digits and '_'";
  if (reserved_names().contains(name)) return "is a Python keyword or builtin";
  return {};
}

std::string choose_tool_name(std::string_view wanted, std::string_view capability,
                             const std::function<bool(const std::string&)>& taken) {
  std::string base = snake_case(wanted);
  if (base.empty()) base = snake_case(capability);
  if (!invalid_tool_name(base).empty()) base = "tool_" + base;  // "print" -> "tool_print"
  if (!invalid_tool_name(base).empty()) base = "forged_tool";
  std::string name = base;
  for (int n = 2; taken(name); ++n) name = base + "_" + std::to_string(n);
  return name;
}

const json& attempt_schema() {
  static const json schema = {
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"signature", {{"type", "string"}}},
        {"docstring", {{"type", "string"}}},
        {"examples",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties", {{"arguments", {{"type", "object"}}}, {"result", json::object()}}},
            {"required", {"arguments", "result"}}}}}},
        {"code", {{"type", "string"}}},
        {"tests", {{"type", "string"}}}}},
      {"required", {"name", "signature", "docstring", "examples", "code", "tests"}}};
  return schema;
}

std::string forge_prompt(std::string_view capability, std::string_view name,
                         const std::vector<AttemptFailure>& previous) {
  std::string p = "Write a Python tool for this capability: " + std::string(capability) + "\n\n";
  if (name.empty()) {
    p += "Choose its name: a lower_snake_case Python function name, 3 to 40 characters.\n";
  } else {
    p += "The tool is named " + std::string(name) + ".\n";
  }
  p += "Answer with JSON: name; signature (the def line); docstring; examples (arguments as a JSON "
       "object of keyword arguments, and the JSON result); code (tool.py: the function, standard "
       "library only, no network, no files outside /tmp, JSON-serialisable arguments and result); "
       "tests (test_tool.py: `from tool import NAME`, then functions named test_... that call the "
       "tool and check what it returns with plain assert statements; tests without such asserts "
       "are rejected. The tests call the tool through a JSON proxy: arguments and results are "
       "JSON values, so a tuple comes back as a list).\n";
  for (const AttemptFailure& f : previous) {
    p += "\nAttempt " + std::to_string(f.attempt) + " failed.\ntool.py was:\n" + f.code +
         "\ntest_tool.py was:\n" + f.tests + "\nWhat went wrong:\n" +
         f.problem.substr(0, kFeedbackChars) + "\n";
  }
  if (!previous.empty()) p += "\nFix the problem and answer again with the whole JSON.\n";
  return p;
}

}  // namespace a4ps::forge
