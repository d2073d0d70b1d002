#include "graph/runner.h"

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "core/error.h"

namespace a4ps::graph {
namespace {

struct NodeOutcome {
  std::string node;
  Update update;
  std::string error;  // empty on success
};

NodeOutcome run_node(const CompiledGraph& graph, const std::string& node, const State& state) {
  NodeOutcome outcome{node, nullptr, {}};
  try {
    outcome.update = graph.node_fn(node)(state);
  } catch (const std::exception& e) {
    outcome.error = e.what();
    if (outcome.error.empty()) outcome.error = "an exception without a message";
  } catch (...) {
    outcome.error = "a non-standard exception";
  }
  return outcome;
}

// Two nodes of one step replacing the same channel would make the result depend on order;
// append and merge channels combine concurrent updates by design.
void check_replace_conflicts(const CompiledGraph& graph, const std::vector<NodeOutcome>& outcomes) {
  std::map<std::string, std::string> writer;
  for (const NodeOutcome& o : outcomes) {
    if (!o.update.is_object()) continue;
    for (const auto& [channel, value] : o.update.items()) {
      (void)value;
      if (graph.reducer_of(channel) != Reducer::kReplace) continue;
      const auto [it, fresh] = writer.emplace(channel, o.node);
      if (!fresh) {
        throw_invalid_argument("nodes " + it->second + " and " + o.node + " both wrote channel " +
                               channel + " in one step");
      }
    }
  }
}

}  // namespace

std::string_view run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kDone:
      return "done";
    case RunStatus::kCancelled:
      return "cancelled";
    case RunStatus::kStepLimit:
      return "step_limit";
    case RunStatus::kError:
      return "error";
  }
  return "error";
}

RunResult run_graph(const CompiledGraph& graph, const nlohmann::json& input,
                    const RunOptions& options) {
  RunResult result;
  result.state = graph.initial_state();
  if (!input.is_null()) {
    if (!input.is_object()) throw_invalid_argument("run input must be a JSON object of channels");
    for (const auto& [channel, value] : input.items()) {
      if (!result.state.contains(channel)) {
        throw_invalid_argument("run input names channel " + channel + ", which the graph lacks");
      }
      result.state[channel] = value;
    }
  }
  const auto emit = [&](StepEvent event) {
    if (options.on_event) options.on_event(event);
  };
  std::vector<std::string> frontier = {graph.entry_point()};
  while (!frontier.empty()) {
    if (options.cancel.stop_requested()) {
      result.status = RunStatus::kCancelled;
      return result;
    }
    if (result.steps >= options.max_steps) {
      result.status = RunStatus::kStepLimit;
      return result;
    }
    ++result.steps;
    for (const std::string& node : frontier)
      emit({StepEvent::Kind::kNodeStarted, result.steps, node, {}});
    std::vector<NodeOutcome> outcomes;
    if (frontier.size() == 1) {
      outcomes.push_back(run_node(graph, frontier.front(), result.state));
    } else {
      std::vector<std::future<NodeOutcome>> running;
      for (const std::string& node : frontier) {
        running.push_back(std::async(std::launch::async, run_node, std::cref(graph), node,
                                     std::cref(result.state)));
      }
      for (auto& f : running) outcomes.push_back(f.get());
    }
    for (const NodeOutcome& o : outcomes) {
      if (!o.error.empty()) {
        result.status = RunStatus::kError;
        result.error = o.error;
        result.failed_node = o.node;
        result.failed_input = result.state;
        return result;
      }
    }
    std::set<std::string> next;
    try {
      check_replace_conflicts(graph, outcomes);
      for (const NodeOutcome& o : outcomes) {
        graph.apply_update(result.state, o.node, o.update);
        emit({StepEvent::Kind::kNodeFinished, result.steps, o.node, o.update});
      }
      for (const NodeOutcome& o : outcomes) {
        for (const std::string& n : graph.next_nodes(o.node, result.state)) {
          if (n != kEnd) next.insert(n);
        }
      }
    } catch (const Error& e) {
      result.status = RunStatus::kError;
      result.error = e.what();
      result.failed_node = outcomes.size() == 1 ? outcomes.front().node : "";
      result.failed_input = result.state;
      return result;
    }
    emit({StepEvent::Kind::kStateUpdated, result.steps, "", result.state});
    frontier.assign(next.begin(), next.end());
  }
  result.status = RunStatus::kDone;
  return result;
}

}  // namespace a4ps::graph
