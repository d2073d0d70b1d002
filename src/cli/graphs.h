// cli/graphs: the graphs this build can run, by the name a thread remembers its graph by (so
// that `a4ps resume` can continue any thread), and the image access the graph commands share.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_context.h"
#include "forge/tool_forge.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "image/image.h"
#include "llm/model_manager.h"
#include "memory/memory_store.h"
#include "motive/event_bus.h"
#include "persona/workflow.h"

namespace a4ps::cli {

std::vector<std::string> graph_names();

// What the graphs' nodes need, made when first used: the codex (--codex or $A4PS_CODEX, else
// the image's), the ModelManager with every [models] entry the personas and the embedder use,
// and the event bus. Not thread-safe; one per command.
class GraphRuntime {
 public:
  GraphRuntime(const GlobalOptions& options, const Config& config,
               const std::filesystem::path& image_dir);
  ~GraphRuntime();

  // Throws kNotFound naming the graphs this build has.
  graph::CompiledGraph find(const std::string& name);

  // Called as models load (name, 0..1); set before the first model is needed.
  void on_load_progress(std::function<void(const std::string&, float)> progress);
  // Appends every model request and response to this JSONL file (docs/formats/replay.md);
  // set before the first model is needed.
  void record_to(std::filesystem::path path) { record_path_ = std::move(path); }
  llm::ModelManager& models();
  // A ModelManager with only [models] embedding registered (for memory commands, which need
  // no persona model). Use either this or models() in one command.
  llm::ModelManager& embedding_models();
  const Codex& codex();
  motive::EventBus& bus() { return bus_; }
  // The image's episodic memory with the embedder [memory] embedder chooses: [models]
  // embedding (through whichever ModelManager this runtime made first; "auto" takes it when it
  // is a local GGUF file), or the built-in lexical one, which is said on stderr.
  memory::MemoryStore& memory();
  // The Tool Forge over the image's registry, with the sandbox [sandbox] runtime picks. When no
  // runtime works here its sandbox is null: it refuses to run code, and why is said once on
  // stderr (the runs then have no tool step).
  forge::ToolForge& forge();
  // The image's tool registry alone (no sandbox is probed).
  forge::ToolRegistry& tools();

 private:
  memory::Embedder memory_embedder();
  const GlobalOptions& options_;
  const Config& config_;
  std::filesystem::path image_dir_;
  std::function<void(const std::string&, float)> progress_;
  std::filesystem::path record_path_;
  std::optional<Codex> codex_;
  std::unique_ptr<llm::ModelManager> models_;
  motive::EventBus bus_;
  std::unique_ptr<persona::WorkflowDeps> workflow_deps_;
  std::unique_ptr<memory::MemoryStore> memory_;
  std::unique_ptr<web::WebClient> web_;  // when [tools] configures search or fetching
  std::unique_ptr<forge::ToolRegistry> tools_;
  std::unique_ptr<forge::Sandbox> sandbox_;
  std::unique_ptr<forge::ToolForge> forge_;
};

// The image the options select: --image, $A4PS_IMAGE, or the default.
std::filesystem::path selected_image_dir(const GlobalOptions& options);

// A command line a user can paste to run `rest` (e.g. "resume t-1") on the same image with the
// same configuration: "a4ps --image DIR resume t-1" when the image is not the default one, with
// --config and --codex when they were given; paths are shell-quoted when they need it.
std::string a4ps_command(const GlobalOptions& options, const std::string& rest);

// config.toml for commands that work on an image: --config or $A4PS_CONFIG if given, else the
// image's own config.toml.
Config load_image_config(const GlobalOptions& options, const std::filesystem::path& image_dir);

// The codex for commands that work on an image: --codex or $A4PS_CODEX if given, else the
// image's codex/persona_codex.toml, else the built-in one; validated against `config`.
Codex load_image_codex(const GlobalOptions& options, const Config& config,
                       const std::filesystem::path& image_dir);

// An image opened for writing (its lock held) with its checkpointer; runs a crash left
// `running` are marked crashed and reported once on stderr, with the command that resumes them.
struct WritableImage {
  std::unique_ptr<Image> image;
  Config config;
  std::unique_ptr<graph::Checkpointer> checkpointer;
};
WritableImage open_image_for_writing(const GlobalOptions& options);

// The image's state.db for reading only: works while another process holds the image.
std::unique_ptr<graph::Checkpointer> open_image_for_reading(const GlobalOptions& options);

// RunOptions from [graph] in config.toml.
graph::RunOptions run_options(const Config& config);

// While alive, Ctrl-C cancels the run at the next step boundary (the run stays resumable)
// instead of killing the process mid-step.
class CancelOnCtrlC {
 public:
  CancelOnCtrlC();
  ~CancelOnCtrlC();
  CancelOnCtrlC(const CancelOnCtrlC&) = delete;
  CancelOnCtrlC& operator=(const CancelOnCtrlC&) = delete;
  std::stop_token token() const { return stop_.get_token(); }

 private:
  std::stop_source stop_;
  std::jthread watcher_;
};

// Shows model loads on stderr ("loading brick ... 100%", in place on a terminal).
std::function<void(const std::string&, float)> load_progress_printer();
// Prints "LABEL: done of total" on stderr (one updating line on a terminal, the last otherwise).
std::function<void(std::int64_t, std::int64_t)> count_progress_printer(std::string label);
// [memory]'s vector index keys as the memory module takes them.
memory::IndexConfig index_config(const MemoryConfig& memory);

// The persona workflow's transcript on stdout, from its events (run_cmd.cpp).
std::function<void(const graph::EventRecord&)> workflow_printer();
// The workflow's answer and dissonance, or with `as_json` one JSON result; then
// throw_unless_finished.
void print_workflow_result(const graph::RunResult& r, bool as_json, const GlobalOptions& options);
// A failed run becomes an error (kFailedPrecondition, exit 7) naming the node, a cancelled one
// kCancelled (exit 10); both name `resume`, the command that continues the run.
void throw_unless_finished(const graph::RunResult& r, const std::string& resume);

}  // namespace a4ps::cli
