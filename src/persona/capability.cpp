#include "persona/capability.h"

#include <memory>

#include "core/error.h"
#include "graph/node_context.h"
#include "persona/speaker.h"
#include "persona/tool_use.h"

namespace a4ps::persona {
namespace {

using graph::NodeContext;
using graph::Reducer;
using graph::Update;
using nlohmann::json;

struct CapabilityStep {
  forge::ToolForge& forge;
  Speaker speaker;
};

std::string answer_of(const forge::ForgeOutcome& outcome) {
  if (outcome.created) {
    return "The forge made the tool " + outcome.name + " (version " +
           std::to_string(outcome.tool->version) + ") in " + std::to_string(outcome.attempts) +
           " attempt(s): " + outcome.tool->spec.signature + ". " + outcome.tool->spec.docstring;
  }
  return "The forge could not make the tool after " + std::to_string(outcome.attempts) +
         " attempt(s): " + outcome.reason;
}

Update forge_again(CapabilityStep& step, NodeContext& ctx) {
  const json& s = ctx.state();
  // The prompt carries the earlier failures, so BRICK's first attempt already knows them.
  forge::ForgeRequest request;
  request.capability = s.value("task", std::string());
  request.wanted_name = s.value("name", json()).is_string() ? s["name"].get<std::string>() : "";
  request.thread_id = ctx.thread_id();
  request.run_id = ctx.run_id();
  BrickAuthor author(step.speaker, &ctx);
  const forge::ForgeOutcome outcome = step.forge.forge(
      request, author, [&ctx](const std::string& kind, const std::function<json()>& produce) {
        return ctx.once(kind, produce);
      });
  return Update{{"forge", outcome.to_json()}, {"answer", answer_of(outcome)}};
}

}  // namespace

json capability_input(const std::string& task, const std::string& capability,
                      const std::string& name) {
  return {{"task", task},
          {"capability", capability},
          {"name", name},
          {"forge", nullptr},
          {"answer", nullptr}};
}

graph::CompiledGraph capability_graph(const WorkflowDeps& deps) {
  if (deps.models == nullptr || deps.codex == nullptr || deps.forge == nullptr) {
    throw Error(ErrorCode::kInternal, "capability_graph: no ModelManager, codex or forge");
  }
  auto step = std::make_shared<CapabilityStep>(
      CapabilityStep{*deps.forge, Speaker(*deps.models, *deps.codex, deps.context_tokens)});
  graph::StateGraph g;
  g.set_name(std::string(kCapabilityGraphName));
  for (const char* channel : {"task", "capability", "name", "forge", "answer"}) {
    g.add_channel(channel, Reducer::kReplace);
  }
  g.add_node("brick_forge", {"forge", "answer"},
             [step](NodeContext& c) { return forge_again(*step, c); });
  g.add_edge("brick_forge", std::string(graph::kEnd)).set_entry_point("brick_forge");
  return g.compile();
}

}  // namespace a4ps::persona
