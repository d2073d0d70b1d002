#include "persona/tool_use.h"

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"

namespace a4ps::persona {
namespace {

using nlohmann::json;

constexpr std::int32_t kForgeMaxTokens = 1536;  // a function and its tests, as JSON
constexpr size_t kResultChars = 2000;           // of a tool's result, in prompts

json decision(const json& value) {
  return value.is_object() ? value : json{{"action", "none"}};
}

// Runs `name` through the journal: a resumed step returns the journaled result.
json call_record(forge::ToolForge& forge, graph::NodeContext& ctx, const std::string& name,
                 const json& arguments, std::optional<int> version = std::nullopt) {
  return ctx.once("tool_call", [&] {
    json record = {{"kind", "call"}, {"tool", name}, {"arguments", arguments}, {"by", "BRICK"}};
    try {
      const forge::ToolVersion v =
          version ? forge.registry().version(name, *version) : forge.registry().get(name);
      record["version"] = v.version;
      const forge::HarnessReport report = forge.call(name, arguments, v.version);
      record["ok"] = report.ok;
      if (report.ok) {
        record["result"] = report.result;
      } else {
        record["problem"] = report.problem.substr(0, kResultChars);
      }
      record["sandbox"] = report.to_json()["sandbox"];
    } catch (const Error& e) {
      record["ok"] = false;
      record["problem"] = e.what();
    }
    return record;
  });
}

json forge_record(const forge::ForgeOutcome& outcome) {
  json record = {{"kind", "forge"},
                 {"capability", outcome.capability},
                 {"created", outcome.created},
                 {"name", outcome.name},
                 {"attempts", outcome.attempts}};
  if (outcome.tool) record["version"] = outcome.tool->version;
  if (!outcome.created) record["reason"] = outcome.reason;
  return record;
}

// After a forge: BRICK's arguments for the new tool.
json arguments_for(Speaker& speaker, graph::NodeContext& ctx, const std::string& task,
                   const forge::ToolVersion& tool) {
  const std::string prompt = tool_arguments_prompt(task, tool.spec.signature, tool.spec.docstring);
  const Decision d = speaker.decide(ctx, "brick", prompt, tool_arguments_schema(),
                                    {{"arguments", json::object()}}, {"tool arguments", 0, 0});
  return d.value.value("arguments", json::object());
}

}  // namespace

std::string tool_arguments_prompt(const std::string& task, const std::string& signature,
                                  const std::string& docstring) {
  return "Task: " + task + "\n\nThe tool you asked for exists now:\n" + signature + "\n" +
         docstring +
         "\n\nCall it for the task. Reply with JSON: {\"arguments\": the keyword arguments as a "
         "JSON object}.";
}

json tool_arguments_schema() {
  return {{"type", "object"},
          {"properties", {{"arguments", {{"type", "object"}}}}},
          {"required", {"arguments"}}};
}

json tool_decision_schema() {
  return {{"type", "object"},
          {"properties",
           {{"action", {{"type", "string"}, {"enum", {"none", "call", "request"}}}},
            {"tool", {{"type", "string"}, {"maxLength", 40}}},
            {"arguments", {{"type", "object"}}},
            {"capability", {{"type", "string"}, {"maxLength", 300}}}}},
          {"required", {"action", "tool", "arguments", "capability"}}};
}

std::string tool_decision_prompt(const std::string& task, const std::string& report,
                                 const std::string& catalogue) {
  std::string p = "Task: " + task + "\n\n";
  if (!report.empty()) p += "BABS's research report:\n" + report + "\n\n";
  p += "Tools you can call (each runs in a sandbox):\n" +
       (catalogue.empty() ? std::string("(none yet)\n") : catalogue) +
       "\nDecide whether a tool would help with the task. Reply with JSON: {\"action\": \"call\" "
       "to call a listed tool, \"request\" when you need a computation no listed tool does (it "
       "will be written, tested and given to you), or \"none\"; \"tool\": the tool's name for a "
       "call, or a name for the new tool; \"arguments\": the call's keyword arguments as a JSON "
       "object; \"capability\": for a request, what the tool must do, its inputs and output}.";
  return p;
}

std::string BrickAuthor::persona() const {
  return speaker_.codex().persona("brick").name;
}

json BrickAuthor::write(const std::string& prompt, const json& schema, int attempt,
                        std::string* problem) {
  const SpeakOptions options{"forge attempt " + std::to_string(attempt),
                             static_cast<std::uint32_t>(attempt) * 101, kForgeMaxTokens};
  const Decision d = ctx_ != nullptr
                         ? speaker_.decide(*ctx_, "brick", prompt, schema, json(), options)
                         : speaker_.decide_directly("brick", prompt, schema, json(), options);
  if (d.used_default) {
    *problem = d.problem;
    return json();
  }
  return d.value;
}

json use_tools(Speaker& speaker, forge::ToolForge& forge, graph::NodeContext& ctx,
               const std::string& task, const std::string& report) {
  json records = json::array();
  if (!forge.available()) return records;
  const json d = decision(
      speaker
          .decide(ctx, "brick", tool_decision_prompt(task, report, forge.registry().catalogue()),
                  tool_decision_schema(), {{"action", "none"}}, {"tool decision", 0, 0})
          .value);
  const std::string action = string_field(d, "action");
  const json arguments =
      d.contains("arguments") && d["arguments"].is_object() ? d["arguments"] : json::object();
  if (action == "call") {
    records.push_back(call_record(forge, ctx, string_field(d, "tool"), arguments));
  } else if (action == "request" && !string_field(d, "capability").empty()) {
    BrickAuthor author(speaker, &ctx);
    const forge::ForgeOutcome outcome = forge.forge(
        {string_field(d, "capability"), string_field(d, "tool"), ctx.thread_id(), ctx.run_id()},
        author, [&ctx](const std::string& kind, const std::function<json()>& produce) {
          return ctx.once(kind, produce);
        });
    records.push_back(forge_record(outcome));
    if (outcome.created) {
      records.push_back(call_record(forge, ctx, outcome.name,
                                    arguments_for(speaker, ctx, task, *outcome.tool),
                                    outcome.tool->version));
    }
  }
  return records;
}

std::string tool_results_text(const json& records) {
  std::string text;
  for (const json& r : records) {
    if (string_field(r, "kind") == "forge") {
      text += r.value("created", false)
                  ? "The forge wrote and tested a new tool, " + string_field(r, "name") +
                        ", for: " + string_field(r, "capability") + "\n"
                  : "The forge could not make a tool for: " + string_field(r, "capability") + " (" +
                        string_field(r, "reason").substr(0, 300) + ")\n";
    } else {
      const std::string call =
          string_field(r, "tool") + "(" + r.value("arguments", json()).dump() + ")";
      text +=
          r.value("ok", false)
              ? "Tool " + call + " returned: " + r["result"].dump().substr(0, kResultChars) + "\n"
              : "Tool " + call + " failed: " + string_field(r, "problem").substr(0, 500) + "\n";
    }
  }
  return text;
}

}  // namespace a4ps::persona
