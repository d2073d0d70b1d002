// motive/event_bus: a minimal in-process publish/subscribe bus. The persona workflow publishes
// COGNITIVE_DISSONANCE on it; the Motivator (later) subscribes and turns events into goals.
// Thread-safe: publish() may be called from any thread; handlers run on the publisher's thread,
// after the bus's lock is released, so a handler may publish or subscribe itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace a4ps::motive {

inline constexpr const char* kCognitiveDissonance = "COGNITIVE_DISSONANCE";
// The Tool Forge registered a tool / gave up on a capability (docs/formats/events.md).
inline constexpr const char* kToolCreated = "TOOL_CREATED";
inline constexpr const char* kToolFailed = "TOOL_FAILED";

struct BusEvent {
  std::string topic;
  nlohmann::json payload;
};

class EventBus {
 public:
  using Handler = std::function<void(const BusEvent&)>;

  // Calls `handler` for every event on `topic` ("*": every topic) until unsubscribe(id).
  std::uint64_t subscribe(const std::string& topic, Handler handler);
  void unsubscribe(std::uint64_t id);
  // Delivers to the topic's subscribers, in subscription order. A handler that throws is
  // skipped (and the rest still run); returns how many handlers ran without throwing.
  int publish(const std::string& topic, const nlohmann::json& payload);

 private:
  struct Subscription {
    std::string topic;
    Handler handler;
  };
  std::mutex mu_;
  std::uint64_t next_id_ = 1;                       // guarded by mu_
  std::map<std::uint64_t, Subscription> handlers_;  // guarded by mu_
};

}  // namespace a4ps::motive
