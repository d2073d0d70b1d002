// graph/node_context: what a node sees while it runs. Besides the state, it is the node's door
// to the step's journal: every model call and tool call goes through once(), so that when a
// step is re-run after a crash or an interrupt, results already journaled are returned
// instead of being produced again (no model call, no side effect happens twice). interrupt()
// pauses the run for a human's value; emit_token() streams text into the run's events.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

namespace a4ps::graph {

using State = nlohmann::json;  // an object: channel -> value

// Where a node's journaled results live. The runner provides one per step; it is shared by
// the step's concurrent nodes and must be thread-safe.
class StepJournal {
 public:
  virtual ~StepJournal() = default;
  // The result journaled for (node, kind, key), if any.
  virtual std::optional<nlohmann::json> find(const std::string& node, const std::string& kind,
                                             const std::string& key) = 0;
  // Journals a result; durable when this returns.
  virtual void record(const std::string& node, const std::string& kind, const std::string& key,
                      const nlohmann::json& value) = 0;
  // `part` labels what the tokens belong to within the node ("" when the node says nothing).
  virtual void token(const std::string& node, const std::string& part, std::string_view text) = 0;
};

// Thrown by NodeContext::interrupt() when no value has been given yet. It does not derive from
// std::exception so that a node's `catch (const std::exception&)` does not swallow it.
struct InterruptSignal {
  std::string id;
  nlohmann::json payload;
};

// One per node execution; used by that node's thread only.
class NodeContext {
 public:
  struct Where {
    std::string thread_id;
    std::string run_id;
    std::int64_t checkpoint = 0;  // the checkpoint the step started from
  };

  NodeContext(const State& state, std::string node, Where where, StepJournal& journal,
              std::stop_token cancel)
      : state_(state),
        node_(std::move(node)),
        where_(std::move(where)),
        journal_(journal),
        cancel_(std::move(cancel)) {}

  const State& state() const { return state_; }
  const std::string& node() const { return node_; }
  const std::string& thread_id() const { return where_.thread_id; }
  const std::string& run_id() const { return where_.run_id; }
  const std::stop_token& cancel() const { return cancel_; }

  // Runs `produce` unless this node's n-th call of `kind` ("model", "tool", ...) in this step
  // is journaled already, in which case the journaled result is returned and `produce` does
  // not run. The result is journaled before it is returned. Calls must happen in a
  // deterministic order within a node for the n-th call to match on a re-run.
  nlohmann::json once(const std::string& kind, const std::function<nlohmann::json()>& produce);

  // Pauses the run: the first time, throws InterruptSignal with `payload` and this
  // interrupt's id (the run is stored as interrupted); when the run is resumed with a value
  // for that id, the node runs again and the call returns the value.
  nlohmann::json interrupt(const nlohmann::json& payload);

  // Streams text (a model's token) into the run's events as it is produced, labelled with the
  // current part (set_part), e.g. "candidate d1.2".
  void emit_token(std::string_view text) { journal_.token(node_, part_, text); }
  void set_part(std::string part) { part_ = std::move(part); }

 private:
  const State& state_;
  std::string node_;
  Where where_;
  StepJournal& journal_;
  std::string part_;
  std::stop_token cancel_;
  std::map<std::string, int> calls_;  // kind -> calls so far
  int interrupts_ = 0;
};

}  // namespace a4ps::graph
