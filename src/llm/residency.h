// llm/residency: which models are resident under a memory budget, and which to evict when
// another must load. The one eviction rule of A4PS, used by the ModelManager to decide and by
// `a4ps models plan` to predict. Not thread-safe (the ModelManager guards it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace a4ps::llm {

enum class BudgetPolicy;

class Residency {
 public:
  Residency(uint64_t budget_bytes, BudgetPolicy policy)
      : budget_bytes_(budget_bytes), policy_(policy) {}

  // Makes `name` resident (most recently used). Returns the models to unload first, least
  // recently used first: all others under kSequential, else as few as needed to fit. `cost`
  // must not exceed the budget.
  std::vector<std::string> admit(const std::string& name, uint64_t cost);
  void touch(const std::string& name);
  void remove(const std::string& name);
  bool contains(const std::string& name) const { return entries_.contains(name); }
  uint64_t used_bytes() const { return used_bytes_; }
  std::vector<std::string> resident() const;

  // Loads a sequence of requests causes, counting from an empty residency.
  static uint64_t count_loads(const std::vector<std::string>& sequence,
                              const std::map<std::string, uint64_t>& costs, uint64_t budget_bytes,
                              BudgetPolicy policy);

 private:
  struct Entry {
    uint64_t cost = 0;
    uint64_t last_use = 0;
  };
  uint64_t budget_bytes_;
  BudgetPolicy policy_;
  std::map<std::string, Entry> entries_;
  uint64_t used_bytes_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace a4ps::llm
