#include "llm/residency.h"

#include <algorithm>

#include "llm/model_manager.h"

namespace a4ps::llm {

std::vector<std::string> Residency::admit(const std::string& name, uint64_t cost) {
  if (contains(name)) {
    touch(name);
    return {};
  }
  std::vector<std::string> evicted;
  const auto evict_lru = [&] {
    auto lru = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_use < b.second.last_use;
    });
    evicted.push_back(lru->first);
    used_bytes_ -= lru->second.cost;
    entries_.erase(lru);
  };
  if (policy_ == BudgetPolicy::kSequential) {
    while (!entries_.empty()) evict_lru();
  }
  while (!entries_.empty() && used_bytes_ + cost > budget_bytes_) evict_lru();
  entries_[name] = {cost, ++clock_};
  used_bytes_ += cost;
  return evicted;
}

void Residency::touch(const std::string& name) {
  if (auto it = entries_.find(name); it != entries_.end()) it->second.last_use = ++clock_;
}

void Residency::remove(const std::string& name) {
  if (auto it = entries_.find(name); it != entries_.end()) {
    used_bytes_ -= it->second.cost;
    entries_.erase(it);
  }
}

std::vector<std::string> Residency::resident() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries_) names.push_back(name);
  return names;
}

uint64_t Residency::count_loads(const std::vector<std::string>& sequence,
                                const std::map<std::string, uint64_t>& costs, uint64_t budget_bytes,
                                BudgetPolicy policy) {
  Residency residency(budget_bytes, policy);
  uint64_t loads = 0;
  std::string previous;
  for (const std::string& name : sequence) {
    // kSequential unloads after every call, except when the next request wants the same
    // model; kFit loads only what is not resident.
    const bool load =
        policy == BudgetPolicy::kSequential ? name != previous : !residency.contains(name);
    if (load) ++loads;
    residency.admit(name, costs.at(name));
    previous = name;
  }
  return loads;
}

}  // namespace a4ps::llm
