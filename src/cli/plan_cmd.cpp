// a4ps models plan: what the configured personas cost, what fits the budget together, and how
// many model loads one Socratic cycle causes under each policy.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "core/error.h"
#include "core/text.h"
#include "llm/gguf_info.h"
#include "llm/model_manager.h"
#include "llm/residency.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

// The persona turns of one Socratic cycle, in order, as DESIGN §6 runs them: ALFRED routes,
// BABS researches, BRICK proposes `breadth` thoughts and ROBIN scores each at every depth,
// then ROBIN and BRICK trade `max_turns` turns and ALFRED synthesizes and judges.
std::vector<std::string> socratic_cycle(const SocraticConfig& s) {
  std::vector<std::string> turns = {"alfred", "babs"};
  for (int64_t depth = 0; depth < s.max_depth; ++depth) {
    for (int64_t i = 0; i < s.breadth; ++i) turns.emplace_back("brick");
    for (int64_t i = 0; i < s.breadth; ++i) turns.emplace_back("robin");
  }
  for (int64_t turn = 0; turn < s.max_turns; ++turn) {
    turns.emplace_back("robin");
    turns.emplace_back("brick");
  }
  turns.emplace_back("alfred");
  turns.emplace_back("alfred");
  return turns;
}

struct PlannedModel {
  std::string name;
  std::vector<std::string> personas;
  llm::ModelRef ref;
  uint64_t bytes = 0;  // 0 for models served by another process
};

uint64_t steady_loads(const std::vector<std::string>& cycle,
                      const std::map<std::string, uint64_t>& costs, uint64_t budget,
                      llm::BudgetPolicy policy) {
  std::vector<std::string> twice = cycle;
  twice.insert(twice.end(), cycle.begin(), cycle.end());
  return llm::Residency::count_loads(twice, costs, budget, policy) -
         llm::Residency::count_loads(cycle, costs, budget, policy);
}

void run_plan(const GlobalOptions& options, bool json) {
  const Config config = load_config(options);
  const Codex codex = load_codex(options, config);
  const uint64_t budget = static_cast<uint64_t>(config.budget.memory_mb) << 20;
  const auto n_ctx = static_cast<uint32_t>(config.inference.context_size);

  std::map<std::string, PlannedModel> models;
  std::map<std::string, std::string> model_of;  // persona id -> model name
  for (const Persona& p : codex.personas()) {
    model_of[p.id] = p.model;
    PlannedModel& m = models[p.model];
    m.name = p.model;
    m.personas.push_back(p.name);
    m.ref = runtime::resolve_model(config, p.model);
    if (m.ref.source == llm::ModelSource::kLocalGguf) {
      m.bytes = llm::inspect_gguf(m.ref.path).estimate_memory_bytes(n_ctx);
    }
  }
  uint64_t total = 0;
  std::map<std::string, uint64_t> costs;
  for (const auto& [name, m] : models) {
    if (m.bytes > budget) {
      throw Error(ErrorCode::kResourceExhausted,
                  "model " + name + " (" + m.ref.text + ") alone needs about " +
                      format_bytes(static_cast<double>(m.bytes)) + " at context " +
                      std::to_string(n_ctx) + ", more than the budget of " +
                      format_bytes(static_cast<double>(budget)) +
                      " ([budget] memory_mb = " + std::to_string(config.budget.memory_mb) +
                      "): raise the budget, lower [inference] context_size or use a smaller "
                      "quantization");
    }
    total += m.bytes;
    costs[name] = m.bytes;
  }
  std::vector<std::string> cycle;
  for (const std::string& persona : socratic_cycle(config.socratic)) {
    cycle.push_back(model_of.at(persona));
  }
  const uint64_t fit_loads = steady_loads(cycle, costs, budget, llm::BudgetPolicy::kFit);
  const uint64_t seq_loads = steady_loads(cycle, costs, budget, llm::BudgetPolicy::kSequential);
  const bool all_fit = total <= budget;

  if (json) {
    nlohmann::json out = {{"budget_bytes", budget},
                          {"policy", config.budget.policy},
                          {"context", n_ctx},
                          {"all_fit_together", all_fit},
                          {"total_bytes", total},
                          {"turns_per_cycle", cycle.size()},
                          {"loads_per_cycle", {{"fit", fit_loads}, {"sequential", seq_loads}}},
                          {"models", nlohmann::json::array()}};
    for (const auto& [name, m] : models) {
      out["models"].push_back({{"name", name},
                               {"reference", m.ref.text},
                               {"source", llm::model_source_name(m.ref.source)},
                               {"personas", m.personas},
                               {"estimated_bytes", m.bytes}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "budget " << format_bytes(static_cast<double>(budget)) << ", policy "
            << config.budget.policy << ", context " << n_ctx << "\n\n";
  for (const auto& [name, m] : models) {
    std::string who;
    for (const std::string& p : m.personas) who += (who.empty() ? "" : ", ") + p;
    std::cout << "  " << name << " (" << who << "): "
              << (m.bytes > 0 ? format_bytes(static_cast<double>(m.bytes))
                              : std::string("served by ") +
                                    std::string(llm::model_source_name(m.ref.source)) +
                                    ", outside the budget")
              << "  " << m.ref.text << "\n";
  }
  std::cout << "\n"
            << (all_fit ? "All models fit together (" : "Not all models fit together (")
            << format_bytes(static_cast<double>(total)) << " of "
            << format_bytes(static_cast<double>(budget)) << ").\n"
            << "One Socratic cycle is " << cycle.size() << " persona turns; after warm-up it "
            << "loads " << fit_loads << " model(s) under \"fit\" and " << seq_loads
            << " under \"sequential\".\n";
}

}  // namespace

void add_plan_command(CLI::App& models, const GlobalOptions& options) {
  auto json = std::make_shared<bool>(false);
  CLI::App* plan = models.add_subcommand(
      "plan",
      "For the configured personas and budget: each model's estimated memory, whether they fit "
      "together, and the model loads one Socratic cycle costs under \"fit\" and "
      "\"sequential\". Refuses a model that alone exceeds the budget.");
  plan->add_flag("--json", *json, "Print JSON");
  plan->callback([&options, json] { run_plan(options, *json); });
}

}  // namespace a4ps::cli
