// a4ps models stats: loads the personas' local models through the ModelManager under the
// configured budget, runs each persona's turn twice (the second served by the prefix cache)
// and prints the per-model figures the server will later export on /metrics.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "core/log.h"
#include "core/text.h"
#include "llm/model_manager.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

struct StatsOptions {
  int32_t tokens = 16;
  bool json = false;
};

nlohmann::json stats_json(const llm::ModelStats& s) {
  return {{"estimated_bytes", s.estimated_bytes},
          {"actual_bytes", s.actual_bytes},
          {"estimate_error", s.estimate_error()},
          {"weights_bytes", s.weights_bytes},
          {"resident", s.resident},
          {"loads", s.loads},
          {"load_ms_total", s.load_ms_total},
          {"evictions", s.evictions},
          {"requests", s.requests},
          {"prefix_cache_hits", s.prefix_cache_hits},
          {"queue_wait_ms_total", s.queue_wait_ms_total},
          {"time_to_first_token_ms_total", s.time_to_first_token_ms_total},
          {"generated_tokens", s.generated_tokens},
          {"decode_tokens_per_second", s.decode_tokens_per_second()}};
}

void print_stats(const std::string& name, const llm::ModelStats& s) {
  const double requests = s.requests > 0 ? static_cast<double>(s.requests) : 1.0;
  std::printf(
      "%s\n  memory    estimated %s, llama.cpp allocated %s (estimate %+.0f%%)\n"
      "  loads     %llu in %.0f ms, %llu evictions\n"
      "  requests  %llu: first token after %.1f ms on average, %.1f tokens/s, "
      "%llu prefix-cache hits, %.1f ms queued on average\n",
      name.c_str(), format_bytes(static_cast<double>(s.estimated_bytes)).c_str(),
      format_bytes(static_cast<double>(s.actual_bytes)).c_str(), s.estimate_error() * 100.0,
      static_cast<unsigned long long>(s.loads), s.load_ms_total,
      static_cast<unsigned long long>(s.evictions), static_cast<unsigned long long>(s.requests),
      s.time_to_first_token_ms_total / requests, s.decode_tokens_per_second(),
      static_cast<unsigned long long>(s.prefix_cache_hits), s.queue_wait_ms_total / requests);
}

void run_stats(const GlobalOptions& options, const StatsOptions& o) {
  const Config config = load_config(options);
  const Codex codex = load_codex(options, config);
  llm::ModelManager manager(runtime::model_manager_options(config));
  std::vector<const Persona*> local;
  for (const Persona& p : codex.personas()) {
    const llm::ModelRef ref = runtime::resolve_model(config, p.model);
    if (ref.source != llm::ModelSource::kLocalGguf) {
      log::warn("persona " + p.name + ": model " + p.model + " is served by " +
                std::string(llm::model_source_name(ref.source)) + "; not measured here");
      continue;
    }
    if (manager.stats().count(p.model) == 0)
      manager.register_model(p.model, ref.path, llm::ModelPurpose::kGenerate,
                             runtime::keep_alive_for(config, p.model));
    local.push_back(&p);
  }
  for (int round = 0; round < 2; ++round) {
    for (const Persona* p : local) {
      llm::ChatRequest r;
      r.messages = {{llm::Role::kSystem, p->full_system_prompt()},
                    {llm::Role::kUser, "Introduce yourself in one sentence."}};
      r.sampling = p->sampling;
      r.max_tokens = o.tokens;
      std::fprintf(stderr, "%s turn %d ...\n", p->name.c_str(), round + 1);
      manager.chat(p->model, r);
    }
  }
  const auto stats = manager.stats();
  if (o.json) {
    nlohmann::json out = {{"budget_bytes", manager.options().budget_bytes},
                          {"peak_resident_bytes", manager.peak_resident_bytes()},
                          {"models", nlohmann::json::object()}};
    for (const auto& [name, s] : stats) out["models"][name] = stats_json(s);
    std::cout << out.dump(2) << "\n";
    return;
  }
  for (const auto& [name, s] : stats) print_stats(name, s);
  std::printf("peak resident %s of a %s budget\n",
              format_bytes(static_cast<double>(manager.peak_resident_bytes())).c_str(),
              format_bytes(static_cast<double>(manager.options().budget_bytes)).c_str());
}

}  // namespace

void add_stats_command(CLI::App& models, const GlobalOptions& options) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* stats = models.add_subcommand(
      "stats",
      "Measure the personas' local models through the ModelManager: memory estimated vs "
      "allocated, loads, evictions, time to first token, tokens/s and prefix-cache hits, from "
      "two turns per persona under the configured budget");
  stats->add_option("--tokens", o->tokens, "Tokens per turn")->capture_default_str();
  stats->add_flag("--json", o->json, "Print JSON");
  stats->callback([&options, o] { run_stats(options, *o); });
}

}  // namespace a4ps::cli
