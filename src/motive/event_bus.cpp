#include "motive/event_bus.h"

#include "core/log.h"

namespace a4ps::motive {

std::uint64_t EventBus::subscribe(const std::string& topic, Handler handler) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  handlers_.emplace(id, Subscription{topic, std::move(handler)});
  return id;
}

void EventBus::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  handlers_.erase(id);
}

int EventBus::publish(const std::string& topic, const nlohmann::json& payload) {
  std::vector<Handler> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, sub] : handlers_) {
      if (sub.topic == topic || sub.topic == "*") targets.push_back(sub.handler);
    }
  }
  const BusEvent event{topic, payload};
  int delivered = 0;
  for (const Handler& handler : targets) {
    try {
      handler(event);
      ++delivered;
    } catch (const std::exception& e) {
      log::warn("event bus: a handler of " + topic + " failed: " + e.what());
    }
  }
  return delivered;
}

}  // namespace a4ps::motive
