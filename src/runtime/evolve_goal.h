// runtime/evolve_goal: the strategic loop as a goal of the living loop. When a persona has
// gathered [evolve] min_examples golden turns since its last dataset (the Oracle's
// judgements, `a4ps evolve judge`), an `evolve` goal is queued; it runs as the graph
// a4ps.evolve — judge the finished runs not judged yet, make the dataset, train a candidate
// on it, let the gate decide — each step
// journaled, so a crash or a pause resumes at the step it stopped in (and the training from its
// checkpoint). A cancel, a pause, the goal's deadline or a person's run stops the training at
// its next optimizer step. Like every goal it is rate-limited by the autonomy policy, shown in
// the CLI, the API and the UI, and can be paused or cancelled.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "evolve/strategic_loop.h"
#include "graph/state_graph.h"
#include "motive/goals.h"

namespace a4ps::runtime {

inline constexpr std::string_view kEvolveGraphName = "a4ps.evolve";

// The graph's three steps over `loop`, which must outlive it.
graph::CompiledGraph evolve_graph(evolve::StrategicLoop& loop);
nlohmann::json evolve_input(const std::string& persona);

// Queues the evolve goals now due: one per persona with enough new golden turns, unless a goal
// for its newest golden judgement exists already (in any state: a goal that failed is not
// queued again until a new golden turn comes). A persona's open evolve goal takes newer turns
// in (merged) instead of a second goal. Returns the goals made.
std::vector<motive::Goal> queue_evolve_goals(motive::GoalStore& goals, evolve::StrategicLoop& loop,
                                             const Config& config);

}  // namespace a4ps::runtime
