#include "cli/graphs.h"

#include <algorithm>
#include <iostream>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

namespace a4ps::cli {
namespace {

using graph::NodeContext;
using graph::Reducer;
using graph::State;
using graph::Update;
using nlohmann::json;

// The engine check: a plan, three branches in one super-step, a join, and a step that asks a
// human to approve the result, so every part of the engine a real workflow uses is exercised
// in the image itself (checkpoints, parallel steps, reducers, the journal, an interrupt).
graph::CompiledGraph engine_check_graph() {
  graph::StateGraph g;
  g.set_name("engine-check")
      .add_channel("task", Reducer::kReplace, "check the graph engine")
      .add_channel("notes", Reducer::kAppend)
      .add_channel("checks", Reducer::kMerge)
      .add_channel("approved", Reducer::kReplace);
  g.add_node("plan", {"notes"}, [](const State& s) {
    return Update{{"notes", "plan: three checks of \"" + s["task"].get<std::string>() + "\""}};
  });
  g.add_node("count_words", {"checks"}, [](const State& s) {
    const std::string task = s["task"];
    size_t words = 0;
    bool in_word = false;
    for (char c : task) {
      const bool space = c == ' ' || c == '\t' || c == '\n';
      if (!space && !in_word) ++words;
      in_word = !space;
    }
    return Update{{"checks", {{"words", words}}}};
  });
  g.add_node("fingerprint", {"checks"}, [](const State& s) {
    return Update{{"checks", {{"fnv1a", hex64(fnv1a(s["task"].get<std::string>()))}}}};
  });
  g.add_node("measure", {"checks"}, [](const State& s) {
    return Update{{"checks", {{"bytes", s["task"].get<std::string>().size()}}}};
  });
  for (const char* branch : {"count_words", "fingerprint", "measure"}) {
    g.add_edge("plan", branch).add_edge(branch, "join");
  }
  g.add_node("join", {"notes"}, [](const State& s) {
    return Update{{"notes", "joined " + std::to_string(s["checks"].size()) + " checks"}};
  });
  g.add_node("approve", {"approved", "notes"}, [](NodeContext& ctx) {
    const json answer = ctx.interrupt({{"question", "Approve these checks? Answer true or false."},
                                       {"checks", ctx.state()["checks"]}});
    const bool approved = answer == true;
    return Update{{"approved", approved}, {"notes", approved ? "approved" : "not approved"}};
  });
  g.add_edge("join", "approve")
      .add_edge("approve", std::string(graph::kEnd))
      .set_entry_point("plan");
  return g.compile();
}

void report_crashed_runs(graph::Checkpointer& checkpointer) {
  for (const graph::RunInfo& run : checkpointer.recover_crashed_runs()) {
    log::warn("run " + run.id + " on thread " + run.thread_id + " was left running by pid " +
              std::to_string(run.pid) + ", which is gone; continue it with: a4ps resume " +
              run.thread_id);
  }
}

}  // namespace

std::vector<std::string> graph_names() {
  return {"engine-check"};
}

graph::CompiledGraph find_graph(const std::string& name) {
  if (name == "engine-check") return engine_check_graph();
  std::string names;
  for (const std::string& n : graph_names()) names += (names.empty() ? "" : ", ") + n;
  throw_not_found("graph " + name + ": this build has no such graph (it has: " + names + ")");
}

std::filesystem::path selected_image_dir(const GlobalOptions& options) {
  return options.image_path.empty() ? default_image_dir()
                                    : std::filesystem::path(options.image_path);
}

Config load_image_config(const GlobalOptions& options, const std::filesystem::path& image_dir) {
  GlobalOptions effective = options;
  if (effective.config_path.empty() && std::getenv("A4PS_CONFIG") == nullptr &&
      std::filesystem::exists(image_dir / "config.toml")) {
    effective.config_path = (image_dir / "config.toml").string();
  }
  return load_config(effective);
}

WritableImage open_image_for_writing(const GlobalOptions& options) {
  WritableImage opened;
  opened.image = Image::open(selected_image_dir(options));
  opened.config = load_image_config(options, opened.image->dir());
  graph::CheckpointerOptions cp_options;
  cp_options.durability = graph::durability_from_name(opened.config.graph.durability)
                              .value_or(graph::Durability::kNormal);
  cp_options.queue_timeout_ms = static_cast<int>(
      std::min<std::int64_t>(opened.config.graph.queue_timeout_seconds, 86'400) * 1000);
  opened.checkpointer = graph::Checkpointer::open(opened.image->state_db_path(), cp_options);
  report_crashed_runs(*opened.checkpointer);
  return opened;
}

std::unique_ptr<graph::Checkpointer> open_image_for_reading(const GlobalOptions& options) {
  const std::filesystem::path dir = selected_image_dir(options);
  if (!std::filesystem::exists(dir / "image.toml")) {
    throw_not_found(dir.string() + ": no image here (create one with: a4ps init " + dir.string() +
                    ")");
  }
  return graph::Checkpointer::open_read_only(dir / "state.db");
}

graph::RunOptions run_options(const Config& config) {
  graph::RunOptions options;
  options.max_steps = static_cast<int>(config.graph.max_steps);
  options.busy =
      config.graph.busy == "queue" ? graph::BusyPolicy::kQueue : graph::BusyPolicy::kRefuse;
  return options;
}

}  // namespace a4ps::cli
