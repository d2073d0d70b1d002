// runtime/engine_check: the engine-check graph, which `a4ps graph check` runs in an image to
// exercise every part of the graph engine a real workflow uses.
#pragma once

#include <string_view>

#include "graph/state_graph.h"

namespace a4ps::runtime {

inline constexpr std::string_view kEngineCheckGraphName = "engine-check";

// A plan, three branches in one super-step, a join, and a step that asks a human to approve
// the result: checkpoints, parallel steps, reducers, the journal and an interrupt.
graph::CompiledGraph engine_check_graph();

}  // namespace a4ps::runtime
