// runtime/runtime: the one object the front ends use. A Runtime opens an image (its lock, its
// config.toml and codex, state.db) and wires the parts that work on it: the ModelManager, the
// event bus, the MemoryStore, the Tool Forge, the Checkpointer and the graphs this build can
// run. `a4ps` and `a4ps serve` construct one from an image folder and options, then ask it for
// what they need; they hold no wiring of their own (DESIGN.md section 3).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "forge/tool_forge.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "image/image.h"
#include "llm/model_manager.h"
#include "memory/memory_store.h"
#include "motive/event_bus.h"
#include "persona/codex.h"
#include "persona/workflow.h"

namespace a4ps::web {
class WebClient;
}
namespace a4ps::evolve {
class StrategicLoop;
}
namespace a4ps::persona {
class Speaker;
}

namespace a4ps::runtime {

// How an image is opened and which configuration it runs with.
struct RuntimeOptions {
  std::filesystem::path image_dir;
  // config.toml to use instead of the image's own IMAGE/config.toml; empty: the image's, else
  // `config_fallback` when that file exists, else the built-in defaults.
  std::filesystem::path config_path;
  std::filesystem::path config_fallback;
  // persona_codex.toml to use instead of the image's IMAGE/codex/persona_codex.toml; empty:
  // the image's, else the built-in codex.
  std::filesystem::path codex_path;
  // The command line that resumes a thread, named when a crashed run is found at opening
  // ("a4ps resume THREAD" when unset).
  std::function<std::string(const std::string& thread_id)> resume_command;
  // Called as the vector index is rebuilt (done, total) when the memory store opens.
  std::function<void(std::int64_t, std::int64_t)> on_index_progress;
};

// The graphs a thread can belong to, by the name it remembers its graph by.
std::vector<std::string> graph_names();

// The config.toml `options` select (see RuntimeOptions), loaded; its warnings are logged once.
// Reads the image's files without taking its lock. Throws what Config::load_file throws.
Config load_image_config(const RuntimeOptions& options);
// The codex `options` select, validated against `config`; its warnings are logged once.
Codex load_image_codex(const RuntimeOptions& options, const Config& config);

// The image's state.db for reading only: works while another process holds the image. Throws
// kNotFound when `image_dir` holds no image (the message says how to create one).
std::unique_ptr<graph::Checkpointer> open_state_read_only(const std::filesystem::path& image_dir);

// One image opened for writing and the parts that work on it. The image, its config and its
// checkpointer are made by open(); every other part is made the first time it is asked for
// and lives as long as the Runtime.
//
// Thread-safety: asking for a part is not thread-safe; a front end that shares parts across
// threads (the HTTP server) asks for them all before it starts its threads. The parts state
// their own thread-safety.
class Runtime {
 public:
  // Opens the image: takes its lock, loads its config.toml, opens state.db and marks the runs
  // a crash left `running` as crashed (each is logged once, with the command that resumes
  // it). Throws kNotFound (no image there), kFailedPrecondition (another process holds the
  // image, or a newer format), kInvalidArgument (a bad config.toml), kDataLoss.
  static std::unique_ptr<Runtime> open(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Image& image() const { return *image_; }
  const Config& config() const { return config_; }
  graph::Checkpointer& checkpointer() { return *checkpointer_; }
  // RunOptions from [graph]: the step limit and the busy-thread policy.
  graph::RunOptions run_options() const;

  // Called as models load (name, 0..1); set before the first model is needed.
  void on_load_progress(std::function<void(const std::string&, float)> progress);
  // Appends every model request and response to this JSONL file (docs/formats/replay.md);
  // set before the first model is needed.
  void record_to(std::filesystem::path path) { record_path_ = std::move(path); }

  // The graph a thread named `name` runs. Throws kNotFound naming the graphs this build has.
  graph::CompiledGraph graph(const std::string& name);

  // The codex as the running system uses it: the image's (or --codex) with, for each persona,
  // the adapter the strategic loop adopted (checked against its SHA-256: kDataLoss when the
  // file was changed, naming `a4ps evolve rollback`).
  const Codex& codex();
  // The strategic loop over this image (judge, datasets, training, the adoption gate).
  evolve::StrategicLoop& evolve();
  // The ModelManager with every [models] entry the personas and the embedder use.
  llm::ModelManager& models();
  // Throws kUnavailable, naming the model, its [models] entry, its server and the fix, when
  // a server that answers for one of the personas' models does not respond (the embedding
  // model is optional: without it the workflow falls back to the lexical embedder). Front ends call
  // it before a run starts, so that a server that is down leaves no failed run behind.
  void check_models_reachable();
  // A ModelManager with only [models] embedding registered (for memory commands, which need
  // no persona model). Use either this or models() in one Runtime.
  llm::ModelManager& embedding_models();
  motive::EventBus& bus() { return bus_; }
  // The image's episodic memory with the embedder [memory] embedder chooses: [models]
  // embedding (through whichever ModelManager this runtime made first; "auto" takes it when it
  // is a local GGUF file), or the built-in lexical one, which is logged as a warning.
  memory::MemoryStore& memory();
  // The Tool Forge over the image's registry, with the sandbox [sandbox] runtime picks. When no
  // sandbox runtime works here it refuses to run code, and why is logged once (the runs then
  // have no tool step).
  forge::ToolForge& forge();
  // The image's tool registry alone (no sandbox is probed).
  forge::ToolRegistry& tools();

  // What /health reports beside "ok": the image, GPU offload, the sandbox and the parts that
  // are degraded (probes the sandbox).
  nlohmann::json health();

 private:
  explicit Runtime(RuntimeOptions options);
  memory::Embedder memory_embedder();
  persona::WorkflowDeps& workflow_deps();

  // Constant after open().
  const RuntimeOptions options_;
  std::unique_ptr<Image> image_;
  Config config_;
  std::unique_ptr<graph::Checkpointer> checkpointer_;

  // Made when first asked for.
  std::function<void(const std::string&, float)> progress_;
  std::filesystem::path record_path_;
  std::optional<Codex> loaded_codex_;  // as loaded, no adopted adapter applied
  std::optional<Codex> codex_;
  std::unique_ptr<persona::Speaker> judge_speaker_;
  std::unique_ptr<evolve::StrategicLoop> evolve_;
  std::unique_ptr<llm::ModelManager> models_;
  motive::EventBus bus_;
  std::unique_ptr<persona::WorkflowDeps> workflow_deps_;
  std::unique_ptr<memory::MemoryStore> memory_;
  std::unique_ptr<web::WebClient> web_;  // when [tools] configures search or fetching
  std::unique_ptr<forge::ToolRegistry> tools_;
  std::unique_ptr<forge::Sandbox> sandbox_;
  std::unique_ptr<forge::ToolForge> forge_;
};

}  // namespace a4ps::runtime
