#include "graph/state_graph.h"

#include <algorithm>
#include <deque>

#include "core/error.h"

namespace a4ps::graph {
namespace {

bool is_end(const std::string& name) {
  return name == kEnd;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::string_view reducer_name(Reducer reducer) {
  switch (reducer) {
    case Reducer::kReplace:
      return "replace";
    case Reducer::kAppend:
      return "append";
    case Reducer::kMerge:
      return "merge";
  }
  return "replace";
}

std::optional<Reducer> reducer_from_name(std::string_view name) {
  for (Reducer r : {Reducer::kReplace, Reducer::kAppend, Reducer::kMerge}) {
    if (reducer_name(r) == name) return r;
  }
  return std::nullopt;
}

void reduce_channel(Reducer reducer, const std::string& node, const std::string& channel,
                    nlohmann::json& current, const nlohmann::json& value) {
  switch (reducer) {
    case Reducer::kReplace:
      current = value;
      break;
    case Reducer::kAppend:
      if (!current.is_array()) current = nlohmann::json::array();
      if (value.is_array()) {
        current.insert(current.end(), value.begin(), value.end());
      } else {
        current.push_back(value);
      }
      break;
    case Reducer::kMerge:
      if (!value.is_object()) {
        throw_invalid_argument("node " + node + " wrote " + std::string(value.type_name()) +
                               " to merge channel " + channel + ", expected an object");
      }
      if (!current.is_object()) current = nlohmann::json::object();
      for (const auto& [key, v] : value.items()) current[key] = v;
      break;
  }
}

StateGraph& StateGraph::add_channel(const std::string& name, Reducer reducer,
                                    nlohmann::json initial) {
  if (channels_.contains(name)) build_errors_.push_back("channel " + name + " is declared twice");
  if (initial.is_null() && reducer == Reducer::kAppend) initial = nlohmann::json::array();
  if (initial.is_null() && reducer == Reducer::kMerge) initial = nlohmann::json::object();
  channels_[name] = {reducer, std::move(initial)};
  return *this;
}

StateGraph& StateGraph::add_node(const std::string& name, std::vector<std::string> writes,
                                 NodeFn fn) {
  if (is_end(name)) build_errors_.push_back("node name " + name + " is reserved");
  if (nodes_.contains(name)) build_errors_.push_back("node " + name + " is added twice");
  nodes_[name] = {std::move(writes), std::move(fn)};
  return *this;
}

StateGraph& StateGraph::add_node(const std::string& name, std::vector<std::string> writes,
                                 PureNodeFn fn) {
  NodeFn adapted;
  if (fn) adapted = [fn = std::move(fn)](NodeContext& ctx) { return fn(ctx.state()); };
  return add_node(name, std::move(writes), std::move(adapted));
}

StateGraph& StateGraph::set_name(const std::string& name) {
  name_ = name;
  return *this;
}

StateGraph& StateGraph::add_edge(const std::string& from, const std::string& to) {
  edges_.emplace(from, to);
  return *this;
}

StateGraph& StateGraph::add_conditional_edges(const std::string& from, RouterFn router,
                                              std::vector<std::string> targets) {
  if (conditionals_.contains(from)) {
    build_errors_.push_back("node " + from + " has two routers");
  }
  conditionals_[from] = {std::move(router), std::move(targets)};
  return *this;
}

StateGraph& StateGraph::set_entry_point(const std::string& node) {
  entry_ = node;
  return *this;
}

CompiledGraph StateGraph::compile() const {
  std::vector<std::string> problems = build_errors_;
  const auto known = [&](const std::string& n) { return nodes_.contains(n); };
  if (entry_.empty()) {
    problems.push_back("no entry point (set_entry_point)");
  } else if (!known(entry_)) {
    problems.push_back("entry point " + entry_ + " is not a node");
  }
  for (const auto& [from, to] : edges_) {
    if (!known(from)) problems.push_back("edge " + from + " -> " + to + ": unknown node " + from);
    if (!known(to) && !is_end(to)) {
      problems.push_back("edge " + from + " -> " + to + ": unknown node " + to);
    }
  }
  for (const auto& [from, c] : conditionals_) {
    if (!known(from)) problems.push_back("router after unknown node " + from);
    if (!c.router) problems.push_back("router after " + from + " has no function");
    if (c.targets.empty()) problems.push_back("router after " + from + " declares no targets");
    for (const std::string& t : c.targets) {
      if (!known(t) && !is_end(t)) {
        problems.push_back("router after " + from + ": target " + t + " is not a node");
      }
    }
  }
  for (const auto& [name, node] : nodes_) {
    if (!node.fn) problems.push_back("node " + name + " has no function");
    for (const std::string& channel : node.writes) {
      if (!channels_.contains(channel)) {
        problems.push_back("node " + name + " writes channel " + channel +
                           ", which has no reducer (add_channel)");
      }
    }
    if (!edges_.contains(name) && !conditionals_.contains(name)) {
      problems.push_back("node " + name + " has no outgoing edge (add one, to END if it ends)");
    }
  }
  if (known(entry_)) {
    std::set<std::string> seen = {entry_};
    std::deque<std::string> todo = {entry_};
    while (!todo.empty()) {
      const std::string n = todo.front();
      todo.pop_front();
      std::vector<std::string> out;
      for (auto [it, end] = edges_.equal_range(n); it != end; ++it) out.push_back(it->second);
      if (const auto c = conditionals_.find(n); c != conditionals_.end()) {
        out.insert(out.end(), c->second.targets.begin(), c->second.targets.end());
      }
      for (const std::string& next : out) {
        if (known(next) && seen.insert(next).second) todo.push_back(next);
      }
    }
    for (const auto& [name, node] : nodes_) {
      if (!seen.contains(name))
        problems.push_back("node " + name + " is unreachable from " + entry_);
    }
  }
  if (!problems.empty()) {
    throw_invalid_argument("graph does not compile: " + join(problems));
  }
  return CompiledGraph(*this);
}

State CompiledGraph::initial_state() const {
  State state = State::object();
  for (const auto& [name, channel] : graph_.channels_) state[name] = channel.initial;
  return state;
}

void CompiledGraph::apply_update(State& state, const std::string& node,
                                 const Update& update) const {
  if (update.is_null()) return;
  if (!update.is_object()) {
    throw_invalid_argument("node " + node + " returned " + std::string(update.type_name()) +
                           ", expected an object of channel updates");
  }
  const auto& writes = graph_.nodes_.at(node).writes;
  for (const auto& [channel, value] : update.items()) {
    if (std::find(writes.begin(), writes.end(), channel) == writes.end()) {
      throw_invalid_argument("node " + node + " wrote channel " + channel +
                             ", which it does not declare (declared: " + join(writes) + ")");
    }
    reduce_channel(graph_.channels_.at(channel).reducer, node, channel, state[channel], value);
  }
}

std::vector<std::string> CompiledGraph::next_nodes(const std::string& node,
                                                   const State& state) const {
  std::vector<std::string> next;
  for (auto [it, end] = graph_.edges_.equal_range(node); it != end; ++it) {
    next.push_back(it->second);
  }
  if (const auto c = graph_.conditionals_.find(node); c != graph_.conditionals_.end()) {
    for (const std::string& chosen : c->second.router(state)) {
      const auto& targets = c->second.targets;
      if (std::find(targets.begin(), targets.end(), chosen) == targets.end()) {
        throw_invalid_argument("router after " + node + " chose " + chosen +
                               ", which it did not declare (declared: " + join(targets) + ")");
      }
      next.push_back(chosen);
    }
  }
  return next;
}

const NodeFn& CompiledGraph::node_fn(const std::string& node) const {
  const auto it = graph_.nodes_.find(node);
  if (it == graph_.nodes_.end()) throw_not_found("node " + node + ": not in the graph");
  return it->second.fn;
}

Reducer CompiledGraph::reducer_of(const std::string& channel) const {
  const auto it = graph_.channels_.find(channel);
  return it == graph_.channels_.end() ? Reducer::kReplace : it->second.reducer;
}

ChannelSpec CompiledGraph::channels() const {
  ChannelSpec spec;
  for (const auto& [name, channel] : graph_.channels_) spec[name] = channel.reducer;
  return spec;
}

std::vector<std::string> CompiledGraph::node_names() const {
  std::vector<std::string> names;
  for (const auto& [name, node] : graph_.nodes_) names.push_back(name);
  return names;
}

}  // namespace a4ps::graph
