// persona/capability: the graph a capability goal runs as. A tool the forge could not make
// (TOOL_FAILED) becomes a capability goal (motive/motivator.h); when the living loop takes it,
// BRICK forges the tool again in one step (brick_forge), told what the earlier attempts'
// failures were, through the Tool Forge itself rather than through a whole workflow run.
// The step's model and sandbox calls are journaled like any other, so a run stopped midway
// resumes without asking BRICK or the sandbox again.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "graph/state_graph.h"
#include "persona/workflow.h"

namespace a4ps::persona {

inline constexpr std::string_view kCapabilityGraphName = "a4ps.capability";

// The graph. `deps.forge` and `deps.models` must be set and outlive every run of it. Channels:
// task (the prompt: the capability and what went wrong before), capability, name (the tool's
// earlier name, or ""), forge (the forge's outcome, ForgeOutcome::to_json) and answer (the
// outcome in words).
graph::CompiledGraph capability_graph(const WorkflowDeps& deps);

// The graph's input.
nlohmann::json capability_input(const std::string& task, const std::string& capability,
                                const std::string& name);

}  // namespace a4ps::persona
