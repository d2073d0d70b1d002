#include "graph/node_context.h"

namespace a4ps::graph {

nlohmann::json NodeContext::once(const std::string& kind,
                                 const std::function<nlohmann::json()>& produce) {
  const std::string key = std::to_string(calls_[kind]++);
  if (auto journaled = journal_.find(node_, kind, key)) return *std::move(journaled);
  nlohmann::json result = produce();
  journal_.record(node_, kind, key, result);
  return result;
}

nlohmann::json NodeContext::interrupt(const nlohmann::json& payload) {
  const std::string id =
      std::to_string(where_.checkpoint) + ":" + node_ + "." + std::to_string(interrupts_++);
  if (auto value = journal_.find(node_, "resume", id)) return *std::move(value);
  throw InterruptSignal{id, payload};
}

}  // namespace a4ps::graph
