// ModelManager benchmarks, each against a reference measured in the same run:
//   budget  MODEL...  : one Socratic cycle's persona sequence repeated, under "fit" (all fit)
//                       and "sequential"; wall time, loads, and reload seconds per GB.
//   prefix  MODEL     : time to first token of a persona turn with a ~1,000-token codex
//                       prompt, with the prefix cache (a hit) and without it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llm/gguf_info.h"
#include "llm/model_manager.h"

namespace {

using a4ps::llm::BudgetPolicy;
using a4ps::llm::ChatRequest;
using a4ps::llm::ModelManager;
using a4ps::llm::ModelManagerOptions;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

ChatRequest turn(const std::string& system, int32_t max_tokens) {
  ChatRequest r;
  r.messages = {{a4ps::llm::Role::kSystem, system},
                {a4ps::llm::Role::kUser, "Design the onboarding protocol."}};
  r.max_tokens = max_tokens;
  r.sampling.seed = 1;
  return r;
}

ModelManagerOptions options(BudgetPolicy policy, size_t prefix_cache_bytes) {
  ModelManagerOptions o;
  o.policy = policy;
  o.budget_bytes = 64ull << 30;
  o.load_defaults.n_ctx = 2048;
  o.prefix_cache_bytes = prefix_cache_bytes;
  return o;
}

void bench_budget(const std::vector<std::string>& models, int cycles) {
  const std::vector<int> cycle = {0, 1, 2, 2, 2, 3, 3, 3, 2, 2, 2, 3, 3, 3, 3, 2, 3, 2, 0, 0};
  uint64_t weights = 0;
  for (const std::string& m : models) weights += a4ps::llm::inspect_gguf(m).tensor_bytes;
  double wall[2] = {0, 0};
  uint64_t loads[2] = {0, 0};
  for (const BudgetPolicy policy : {BudgetPolicy::kFit, BudgetPolicy::kSequential}) {
    const int k = policy == BudgetPolicy::kFit ? 0 : 1;
    ModelManager manager(options(policy, 256ull << 20));
    for (size_t i = 0; i < models.size(); ++i)
      manager.register_model("p" + std::to_string(i), models[i]);
    for (const int i : cycle)
      manager.chat("p" + std::to_string(i), turn("You are a persona.", 4));  // warm-up
    uint64_t warm_loads = 0;
    for (const auto& [name, s] : manager.stats()) warm_loads += s.loads;
    const auto start = Clock::now();
    for (int c = 0; c < cycles; ++c) {
      for (const int i : cycle)
        manager.chat("p" + std::to_string(i), turn("You are a persona.", 4));
    }
    wall[k] = seconds_since(start);
    for (const auto& [name, s] : manager.stats()) loads[k] += s.loads;
    loads[k] -= warm_loads;
  }
  const double avg_gb = static_cast<double>(weights) / static_cast<double>(models.size()) / 1e9;
  const double reload_s = loads[1] > 0 ? (wall[1] - wall[0]) / static_cast<double>(loads[1]) : 0;
  std::printf("budget: %zu models, %.2f GB weights each on average, %d cycles of %zu turns\n",
              models.size(), avg_gb, cycles, cycle.size());
  std::printf("  fit:        %.2f s, %llu loads after warm-up\n", wall[0],
              static_cast<unsigned long long>(loads[0]));
  std::printf("  sequential: %.2f s, %llu loads after warm-up\n", wall[1],
              static_cast<unsigned long long>(loads[1]));
  std::printf("  sequential / fit wall time: %.2f; reload cost %.3f s per load = %.3f s per GB\n",
              wall[1] / wall[0], reload_s, avg_gb > 0 ? reload_s / avg_gb : 0.0);
}

double time_to_first_token_ms(ModelManager& manager, const std::string& codex) {
  ChatRequest r = turn(codex, 1);
  const auto start = Clock::now();
  double first = -1;
  r.on_token = [&](std::string_view) {
    if (first < 0) first = seconds_since(start) * 1000.0;
  };
  const auto result = manager.chat("m", r);
  return first >= 0 ? first : result.timings.prompt_ms;
}

void bench_prefix(const std::string& model, int runs) {
  std::string codex = "You are BRICK, the analyst.";
  while (codex.size() < 4000) codex += " Never Enough Justice: weigh each claim, cite evidence.";
  ModelManager with(options(BudgetPolicy::kFit, 256ull << 20));
  ModelManager without(options(BudgetPolicy::kFit, 0));
  with.register_model("m", model);
  without.register_model("m", model);
  time_to_first_token_ms(with, codex);  // loads, fills the cache
  time_to_first_token_ms(without, codex);
  double hit = 0, miss = 0;
  for (int i = 0; i < runs; ++i) {
    hit += time_to_first_token_ms(with, codex);
    miss += time_to_first_token_ms(without, codex);
  }
  const auto prompt = with.chat("m", turn(codex, 1)).timings;
  std::printf(
      "prefix: %d-token prompt, %d cached; time to first token %.1f ms with the cache, "
      "%.1f ms without; ratio %.3f\n",
      prompt.n_prompt_tokens, prompt.n_cached_tokens, hit / runs, miss / runs, hit / miss);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "budget" && argc >= 4) {
      bench_budget(std::vector<std::string>(argv + 2, argv + argc), 10);
    } else if (mode == "prefix" && argc == 3) {
      bench_prefix(argv[2], 10);
    } else {
      std::fprintf(stderr, "usage: %s budget MODEL MODEL... | prefix MODEL\n", argv[0]);
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a4ps_bench_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
