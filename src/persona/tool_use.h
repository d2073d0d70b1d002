// persona/tool_use: BRICK's use of the Tool Forge within a run. He sees the tool catalogue
// (name, signature, docstring) and answers with a structured decision (JSON schema): call a
// tool with JSON arguments, request a capability no tool has, or neither. A request forges the
// tool (BRICK is its author) and, when it is created, the same run calls it. Every model call,
// sandbox run, registration and event goes through the step's journal, so a resumed run never
// runs a tool or forges twice. The results return to the dialogue as TOOL turns.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "forge/tool_forge.h"
#include "graph/node_context.h"
#include "persona/speaker.h"

namespace a4ps::persona {

// BRICK's decision: {"action": "none" | "call" | "request", "tool": string,
// "arguments": object, "capability": string}.
nlohmann::json tool_decision_schema();
std::string tool_decision_prompt(const std::string& task, const std::string& report,
                                 const std::string& catalogue);

// BRICK's arguments for a tool forged for him: {"arguments": object}.
nlohmann::json tool_arguments_schema();
std::string tool_arguments_prompt(const std::string& task, const std::string& signature,
                                  const std::string& docstring);

// The forge's author: BRICK through the speaker. Within a run (`ctx` given) every model call is
// journaled; outside one (`a4ps tools forge`, `ctx` null) the calls are direct.
class BrickAuthor final : public forge::ToolAuthor {
 public:
  BrickAuthor(Speaker& speaker, graph::NodeContext* ctx) : speaker_(speaker), ctx_(ctx) {}
  std::string persona() const override;
  nlohmann::json write(const std::string& prompt, const nlohmann::json& schema, int attempt,
                       std::string* problem) override;

 private:
  Speaker& speaker_;
  graph::NodeContext* ctx_;
};

// The tool step of a run: BRICK decides, and what he asked for is forged and/or called.
// Returns the records of what happened (an array; empty when BRICK used no tool):
//   {"kind": "call", "tool", "version", "arguments", "ok", "result" | "problem"}
//   {"kind": "forge", "capability", "created", "name", "attempts", "reason"?}
nlohmann::json use_tools(Speaker& speaker, forge::ToolForge& forge, graph::NodeContext& ctx,
                         const std::string& task, const std::string& report);

// The records as text for later prompts and the dialogue ("" when there are none).
std::string tool_results_text(const nlohmann::json& records);

}  // namespace a4ps::persona
