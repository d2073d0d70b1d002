// graph/state_graph: the graph engine's builder (LangGraph's StateGraph, in C++). State is a
// JSON object whose keys are channels; each channel has a reducer that folds a node's partial
// update into it. Nodes are joined by fixed edges and by conditional edges whose router picks
// among declared targets; END finishes a run. compile() checks the whole graph and reports
// every problem at once, naming the nodes, channels and targets involved.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "graph/node_context.h"

namespace a4ps::graph {

inline constexpr std::string_view kEnd = "END";

enum class Reducer {
  kReplace,  // the update's value replaces the channel's
  kAppend,   // the channel is an array; an array update is concatenated, anything else pushed
  kMerge,    // the channel is an object; the update's keys overwrite its keys (shallow)
};

std::string_view reducer_name(Reducer reducer);
// The reducer named `name` ("replace", "append", "merge"); nullopt for anything else.
std::optional<Reducer> reducer_from_name(std::string_view name);

using Update = nlohmann::json;  // an object with some channels, or null for none
using NodeFn = std::function<Update(NodeContext&)>;
// For nodes that need only the state (no model calls, interrupts or tokens).
using PureNodeFn = std::function<Update(const State&)>;
using ChannelSpec = std::map<std::string, Reducer>;

// Folds `value` written by `node` into `current` by `reducer`. Throws kInvalidArgument naming
// the node and channel when the value does not fit (a merge of a non-object).
void reduce_channel(Reducer reducer, const std::string& node, const std::string& channel,
                    nlohmann::json& current, const nlohmann::json& value);
using RouterFn = std::function<std::vector<std::string>(const State&)>;

class CompiledGraph;

// Not thread-safe; build on one thread, then compile.
class StateGraph {
 public:
  StateGraph& add_channel(const std::string& name, Reducer reducer,
                          nlohmann::json initial = nullptr);
  // `writes`: the channels the node's updates may contain (checked by compile() and at run time).
  StateGraph& add_node(const std::string& name, std::vector<std::string> writes, NodeFn fn);
  StateGraph& add_node(const std::string& name, std::vector<std::string> writes, PureNodeFn fn);
  StateGraph& add_edge(const std::string& from, const std::string& to);
  // After `from`, `router` names the next nodes; it may only name `targets` (nodes or END).
  StateGraph& add_conditional_edges(const std::string& from, RouterFn router,
                                    std::vector<std::string> targets);
  StateGraph& set_entry_point(const std::string& node);
  // The name under which threads remember which graph they run (for resume); "graph" if unset.
  StateGraph& set_name(const std::string& name);

  // Throws a4ps::Error kInvalidArgument listing every problem: no or unknown entry point,
  // duplicate or reserved names, edges from or to unknown nodes, routers with undeclared or
  // unknown targets, nodes writing channels that have no reducer, nodes with no way out,
  // nodes unreachable from the entry point.
  CompiledGraph compile() const;

 private:
  friend class CompiledGraph;
  struct Channel {
    Reducer reducer;
    nlohmann::json initial;
  };
  struct Node {
    std::vector<std::string> writes;
    NodeFn fn;
  };
  struct Conditional {
    RouterFn router;
    std::vector<std::string> targets;
  };
  std::map<std::string, Channel> channels_;
  std::map<std::string, Node> nodes_;
  std::multimap<std::string, std::string> edges_;
  std::map<std::string, Conditional> conditionals_;
  std::string entry_;
  std::string name_ = "graph";
  std::vector<std::string> build_errors_;  // duplicates, found while adding
};

// Immutable and thread-safe once made.
class CompiledGraph {
 public:
  // Every channel at its initial value.
  State initial_state() const;

  // Folds `update` (from `node`) into `state` by the channels' reducers. Throws
  // kInvalidArgument naming the node and channel when the update is not an object, writes a
  // channel the node did not declare, or does not fit the reducer (append to a non-array...).
  void apply_update(State& state, const std::string& node, const Update& update) const;

  // The nodes that follow `node` for this state: its fixed edges, then its router's choice.
  // Throws kInvalidArgument naming the router when it returns a target it did not declare.
  std::vector<std::string> next_nodes(const std::string& node, const State& state) const;

  const std::string& entry_point() const { return graph_.entry_; }
  const std::string& name() const { return graph_.name_; }
  ChannelSpec channels() const;
  bool has_node(const std::string& node) const { return graph_.nodes_.contains(node); }
  const NodeFn& node_fn(const std::string& node) const;
  // The channel's reducer; kReplace for a channel the graph does not have (apply_update
  // rejects those).
  Reducer reducer_of(const std::string& channel) const;
  std::vector<std::string> node_names() const;

 private:
  friend class StateGraph;
  explicit CompiledGraph(StateGraph graph) : graph_(std::move(graph)) {}
  StateGraph graph_;
};

}  // namespace a4ps::graph
