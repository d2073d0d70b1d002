// The persona workflow's overhead: one full cycle of the demo task on four generated persona
// models (and an embedding model), checkpointed to state.db on disk, timed end to end; the
// model evaluation inside it (prompt + decode of every call, as llama.cpp reports it, plus
// model loads) is subtracted, leaving the share spent in the engine, checkpoints, prompts and
// parsing. The first cycle loads the models; the second, measured, finds them resident.
// usage: a4ps_bench_workflow DIR ALFRED.gguf BABS.gguf BRICK.gguf ROBIN.gguf EMBED.gguf
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/config.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "llm/model_manager.h"
#include "motive/event_bus.h"
#include "persona/codex.h"
#include "persona/workflow.h"

namespace {

using namespace a4ps;
using Clock = std::chrono::steady_clock;

struct Cycle {
  double wall_ms = 0;
  double model_ms = 0;  // prompt + decode of every call in the run
  double load_ms = 0;
  int calls = 0;
};

Cycle run_cycle(const graph::CompiledGraph& g, graph::Checkpointer& cp, llm::ModelManager& mm,
                const std::string& thread) {
  double loads_before = 0;
  for (const auto& [name, s] : mm.stats()) loads_before += s.load_ms_total;
  const std::string task =
      "Design the core user onboarding protocol for the Commonwealth's 'Community Resource "
      "Atlas.' The protocol must be maximally efficient and data-driven, yet exceptionally gentle "
      "and welcoming.";
  const auto t0 = Clock::now();
  const graph::RunResult r = graph::start_run(
      g, cp, thread,
      persona::workflow_input(task, {{"atlas.md", "The Atlas lists food banks and clinics."}}));
  Cycle c;
  c.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (r.status != graph::RunStatus::kDone) std::fprintf(stderr, "run: %s\n", r.error.c_str());
  for (const auto& checkpoint : cp.history(thread)) {
    if (checkpoint.run_id != r.run_id) continue;
    for (const auto& e : cp.journal(thread, checkpoint.id)) {
      if (e.kind != "model") continue;
      c.model_ms += e.value.value("prompt_ms", 0.0) + e.value.value("decode_ms", 0.0);
      ++c.calls;
    }
  }
  double loads_after = 0;
  for (const auto& [name, s] : mm.stats()) loads_after += s.load_ms_total;
  c.load_ms = loads_after - loads_before;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: a4ps_bench_workflow DIR ALFRED.gguf BABS.gguf BRICK.gguf ROBIN.gguf "
                 "EMBED.gguf\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::remove_all(dir / "workflow");
  std::filesystem::create_directories(dir / "workflow");
  Config config = Config::defaults();
  config.socratic.breadth = 2;
  config.socratic.beam = 2;
  config.socratic.max_depth = 2;
  config.socratic.max_turns = 1;
  const Codex codex = Codex::builtin(config);
  llm::ModelManagerOptions options;
  options.load_defaults.n_ctx = 2048;
  llm::ModelManager mm(options);
  const char* names[] = {"alfred", "babs", "brick", "robin"};
  for (int i = 0; i < 4; ++i) {
    mm.register_model(names[i], argv[2 + i], llm::ModelPurpose::kGenerate, std::nullopt);
  }
  mm.register_model("embedding", argv[6], llm::ModelPurpose::kEmbed, std::nullopt);
  motive::EventBus bus;
  persona::WorkflowDeps deps;
  deps.models = &mm;
  deps.codex = &codex;
  deps.socratic = config.socratic;
  deps.motivator = config.motivator;
  deps.bus = &bus;
  deps.context_tokens = 2048;
  deps.embedding_model = "embedding";
  const graph::CompiledGraph g = persona::workflow_graph(deps);
  auto cp = graph::Checkpointer::open(dir / "workflow" / "state.db");
  const Cycle cold = run_cycle(g, *cp, mm, "cold");
  const Cycle warm = run_cycle(g, *cp, mm, "warm");
  for (const auto& [label, c] : {std::pair{"first cycle (loads models)", cold},
                                 std::pair{"second cycle (models resident)", warm}}) {
    const double other = c.wall_ms - c.model_ms - c.load_ms;
    std::printf(
        "%-31s %2d model calls, wall %8.1f ms = model evaluation %8.1f + loads %7.1f + other "
        "%6.1f ms (%.1f %% of wall outside model evaluation and loads)\n",
        label, c.calls, c.wall_ms, c.model_ms, c.load_ms, other, 100.0 * other / c.wall_ms);
  }
  return 0;
}
