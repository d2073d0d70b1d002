// graph/runner: runs a compiled graph in super-steps. The nodes scheduled for a step run
// concurrently on their own copies of the state; their updates are folded in by the channels'
// reducers in node-name order, so the result does not depend on thread timing. A run ends at
// END, at the step limit, on cancellation, or at the first node that throws (recorded with the
// node's name and its input). Checkpointing each step into state.db comes next.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "graph/state_graph.h"

namespace a4ps::graph {

enum class RunStatus { kDone, kCancelled, kStepLimit, kError };

std::string_view run_status_name(RunStatus status);

struct StepEvent {
  enum class Kind { kNodeStarted, kNodeFinished, kStateUpdated } kind;
  int step = 0;
  std::string node;     // empty for kStateUpdated
  nlohmann::json data;  // the node's update, or the state after the step
};

struct RunOptions {
  int max_steps = 100;
  std::stop_token cancel;  // checked before every step
  // Called on the calling thread, in order, for each event.
  std::function<void(const StepEvent&)> on_event;
};

struct RunResult {
  RunStatus status = RunStatus::kDone;
  State state;
  int steps = 0;
  std::string error;            // kError: what the node threw
  std::string failed_node;      // kError
  nlohmann::json failed_input;  // kError: the state the node was given
};

// Runs `graph` from its initial state with `input` folded in as if written by no node (input
// channels must exist). Throws a4ps::Error kInvalidArgument for input naming unknown channels;
// everything that goes wrong inside the run is reported in the result.
RunResult run_graph(const CompiledGraph& graph, const nlohmann::json& input,
                    const RunOptions& options = {});

}  // namespace a4ps::graph
