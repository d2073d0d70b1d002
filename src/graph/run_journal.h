// graph/run_journal: the runner's two helpers for one run, kept out of runner.cpp. Publisher
// stores events and delivers them in sequence order; DurableJournal is a step's journal (what
// earlier attempts of the step stored, plus what this attempt records). Internal to the graph
// module.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "graph/checkpointer.h"
#include "graph/node_context.h"

namespace a4ps::graph::internal {

using nlohmann::json;

// Stores events and hands them to the caller's callback in sequence order.
class Publisher {
 public:
  Publisher(Checkpointer& checkpointer, std::string run_id,
            const std::function<void(const EventRecord&)>& on_event)
      : checkpointer_(checkpointer), run_id_(std::move(run_id)), on_event_(on_event) {}

  const std::string& run_id() const { return run_id_; }

  void publish(const NewEvent& event) {
    std::lock_guard lock(mu_);
    deliver({checkpointer_.append_event(run_id_, event)});
  }

  // Delivers events stored by someone else (begin_run).
  void deliver_stored(const std::vector<EventRecord>& events) {
    std::lock_guard lock(mu_);
    deliver(events);
  }

  // Between hold() and release(), events are kept back: their transaction is still open.
  void hold() {
    std::lock_guard lock(mu_);
    holding_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    holding_ = false;
    deliver(std::exchange(held_, {}));
  }

  // Runs `store` (which writes events and returns them as stored) and delivers its events.
  template <typename Store>
  auto store_and_deliver(Store store) {
    std::lock_guard lock(mu_);
    auto stored = store();
    deliver(events_of(stored));
    return stored;
  }

 private:
  static const std::vector<EventRecord>& events_of(const std::vector<EventRecord>& e) { return e; }
  template <typename T>
  static const std::vector<EventRecord>& events_of(
      const std::pair<T, std::vector<EventRecord>>& p) {
    return p.second;
  }
  void deliver(const std::vector<EventRecord>& events) {
    if (!on_event_) return;
    if (holding_) {
      held_.insert(held_.end(), events.begin(), events.end());
      return;
    }
    for (const EventRecord& e : events) on_event_(e);
  }

  Checkpointer& checkpointer_;
  const std::string run_id_;
  const std::function<void(const EventRecord&)>& on_event_;
  std::mutex mu_;                  // orders storing and delivery, so callbacks see seq order
  bool holding_ = false;           // guarded by mu_
  std::vector<EventRecord> held_;  // guarded by mu_
};

// The journal of one step: what earlier attempts stored, plus what this attempt records.
class DurableJournal : public StepJournal {
 public:
  // `earlier_attempts`: whether the step may have been attempted before (the first step of a
  // resumed run); a step this execution has just reached has no journal yet.
  DurableJournal(Checkpointer& checkpointer, std::string thread_id, std::int64_t checkpoint,
                 Publisher& publisher, bool earlier_attempts)
      : checkpointer_(checkpointer),
        thread_id_(std::move(thread_id)),
        checkpoint_(checkpoint),
        publisher_(publisher) {
    if (!earlier_attempts) return;
    for (JournalEntry& e : checkpointer_.journal(thread_id_, checkpoint_)) {
      entries_[{e.node, e.kind, e.key}] = std::move(e.value);
    }
  }

  std::optional<json> find(const std::string& node, const std::string& kind,
                           const std::string& key) override {
    std::lock_guard lock(mu_);
    const auto it = entries_.find({node, kind, key});
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  void record(const std::string& node, const std::string& kind, const std::string& key,
              const json& value) override {
    record_with_events(node, kind, key, value, {});
  }

  void record_with_events(const std::string& node, const std::string& kind, const std::string& key,
                          const json& value, const std::vector<NewEvent>& events) {
    publisher_.store_and_deliver([&] {
      return checkpointer_.record_journal(thread_id_, checkpoint_, publisher_.run_id(),
                                          {node, kind, key, value}, events);
    });
    std::lock_guard lock(mu_);
    entries_[{node, kind, key}] = value;
  }

  void token(const std::string& node, const std::string& part, std::string_view text) override {
    json data = {{"node", node}, {"text", text}};
    if (!part.empty()) data["part"] = part;
    publisher_.publish({"token", std::move(data)});
  }

 private:
  Checkpointer& checkpointer_;
  const std::string thread_id_;
  const std::int64_t checkpoint_;
  Publisher& publisher_;
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, json> entries_;  // guarded by mu_
};

}  // namespace a4ps::graph::internal
