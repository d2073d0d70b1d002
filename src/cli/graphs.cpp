#include "cli/graphs.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/text.h"

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

void report_crashed_runs(const GlobalOptions& options, graph::Checkpointer& checkpointer) {
  for (const graph::RunInfo& run : checkpointer.recover_crashed_runs()) {
    log::warn("run " + run.id + " on thread " + run.thread_id + " was left running by pid " +
              std::to_string(run.pid) + ", which is gone; continue it with: " +
              a4ps_command(options, "resume " + run.thread_id));
  }
}

// `text` as one shell word.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-./:=@%+,") == std::string::npos;
  if (plain) return text;
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::vector<std::string> graph_names() {
  return {std::string(persona::kWorkflowGraphName), "engine-check"};
}

GraphRuntime::GraphRuntime(const GlobalOptions& options, const Config& config,
                           const std::filesystem::path& image_dir)
    : options_(options), config_(config), image_dir_(image_dir) {}

GraphRuntime::~GraphRuntime() = default;

void GraphRuntime::on_load_progress(std::function<void(const std::string&, float)> progress) {
  progress_ = std::move(progress);
}

const Codex& GraphRuntime::codex() {
  if (!codex_) codex_ = load_image_codex(options_, config_, image_dir_);
  return *codex_;
}

llm::ModelManager& GraphRuntime::models() {
  if (models_) return *models_;
  llm::ModelManagerOptions options = model_manager_options(config_);
  options.on_load_progress = progress_;
  options.record_path = record_path_;
  auto manager = std::make_unique<llm::ModelManager>(options);
  std::set<std::string> names;
  for (const Persona& p : codex().personas()) names.insert(p.model);
  for (const std::string& name : names) {
    register_model_ref(*manager, config_, name, resolve_model(config_, name),
                       llm::ModelPurpose::kGenerate);
  }
  if (config_.models.refs.contains("embedding") && !names.contains("embedding")) {
    register_model_ref(*manager, config_, "embedding", resolve_model(config_, "embedding"),
                       llm::ModelPurpose::kEmbed);
  }
  models_ = std::move(manager);
  return *models_;
}

llm::ModelManager& GraphRuntime::embedding_models() {
  if (models_) return *models_;
  llm::ModelManagerOptions options = model_manager_options(config_);
  options.on_load_progress = progress_;
  options.record_path = record_path_;
  models_ = std::make_unique<llm::ModelManager>(options);
  if (config_.models.refs.contains("embedding")) {
    register_model_ref(*models_, config_, "embedding", resolve_model(config_, "embedding"),
                       llm::ModelPurpose::kEmbed);
  }
  return *models_;
}

namespace {

// The SHA-256 of a local model file, computed once per (path, size, modification time) and
// kept in IMAGE/index/model-ids.json (derived, like the rest of index/).
std::string model_content_id(const std::filesystem::path& model, const std::filesystem::path& dir) {
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(model, ec);
  const auto size = std::filesystem::file_size(model, ec);
  if (ec) throw_not_found(model.string() + ": no such model file");
  const auto mtime = std::filesystem::last_write_time(model, ec).time_since_epoch().count();
  const std::string key =
      canonical.string() + "#" + std::to_string(size) + "@" + std::to_string(mtime);
  const std::filesystem::path cache = dir / "model-ids.json";
  json ids = json::object();
  if (std::ifstream in(cache); in) {
    ids = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!ids.is_object()) ids = json::object();
  }
  if (ids.contains(key) && ids[key].is_string()) return ids[key].get<std::string>();
  const std::string sha = sha256_file_hex(model);
  ids[key] = sha;
  try {
    std::filesystem::create_directories(dir);
    write_file_durably(cache, ids.dump(1));
  } catch (const std::exception& e) {
    log::warn("memory: could not keep the model's hash in " + cache.string() + ": " + e.what());
  }
  return sha;
}

}  // namespace

memory::Embedder GraphRuntime::memory_embedder() {
  const auto it = config_.models.refs.find("embedding");
  const std::string& choice = config_.memory.embedder;
  std::optional<llm::ModelRef> ref;
  if (it != config_.models.refs.end()) ref = resolve_model(config_, "embedding");
  const bool local = ref && ref->source == llm::ModelSource::kLocalGguf;
  if (choice == "lexical" || !ref || (choice == "auto" && !local)) {
    log::warn(std::string("memory: the built-in lexical embedder (matches words, not meaning): ") +
              (choice == "lexical" ? "[memory] embedder = \"lexical\""
               : !ref              ? "no [models] embedding is configured"
                                   : "[memory] embedder = \"auto\" uses only a local GGUF "
                                     "embedding model; set embedder = \"model\" to embed with " +
                            it->second));
    return memory::lexical_embedder();
  }
  // nomic-embed-text was trained with task prefixes; other models take the text as it is.
  const bool nomic = to_lower(it->second).find("nomic") != std::string::npos;
  const auto embed = [this](std::string prefix) {
    return [this, prefix](const std::string& text) {
      llm::ModelManager& manager = models_ ? *models_ : embedding_models();
      return manager.embed("embedding", prefix + text);
    };
  };
  memory::Embedder embedder{"",
                            embed(nomic ? "search_document: " : ""),
                            embed(nomic ? "search_query: " : ""),
                            {"model:" + it->second}};
  // Stored vectors are keyed by what the model is, not where it lies, so a copied or restored
  // image keeps them; a served model is known by its reference only.
  embedder.name = local ? "model:sha256:" + model_content_id(ref->path, image_dir_ / "index")
                        : "model:" + it->second;
  return embedder;
}

memory::MemoryStore& GraphRuntime::memory() {
  if (memory_) return *memory_;
  memory::MemoryStoreOptions options;
  options.index = index_config(config_.memory);
  options.index_dir = image_dir_ / "index";
  options.rebuild_progress = count_progress_printer("building the vector index");
  memory_ = memory::MemoryStore::open(image_dir_ / "state.db", memory_embedder(), options);
  return *memory_;
}

forge::ToolRegistry& GraphRuntime::tools() {
  if (!tools_) tools_ = forge::ToolRegistry::open(image_dir_);
  return *tools_;
}

forge::ToolForge& GraphRuntime::forge() {
  if (forge_) return *forge_;
  std::string problem;
  try {
    sandbox_ = forge::Sandbox::create(config_.sandbox);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnavailable) throw;
    problem = e.what();
    log::warn(std::string("tools: no sandbox, so no tool runs: ") + problem);
  }
  forge_ = std::make_unique<forge::ToolForge>(tools(), sandbox_.get(), problem,
                                              forge::SandboxLimits::from_config(config_.sandbox),
                                              static_cast<int>(config_.tools.max_attempts), &bus_);
  return *forge_;
}

graph::CompiledGraph GraphRuntime::find(const std::string& name) {
  if (name == "engine-check") return engine_check_graph();
  if (name == persona::kWorkflowGraphName) {
    if (!workflow_deps_) {
      workflow_deps_ = std::make_unique<persona::WorkflowDeps>();
      workflow_deps_->models = &models();
      workflow_deps_->codex = &codex();
      workflow_deps_->socratic = config_.socratic;
      workflow_deps_->motivator = config_.motivator;
      workflow_deps_->context_tokens = static_cast<int>(config_.inference.context_size);
      workflow_deps_->bus = &bus_;
      if (config_.models.refs.contains("embedding")) workflow_deps_->embedding_model = "embedding";
      workflow_deps_->memory = &memory();
      if (!config_.tools.search_url.empty() || !config_.tools.fetch_allowed_hosts.empty()) {
        web::WebOptions options;
        options.search_url = config_.tools.search_url;
        options.allowed_hosts = config_.tools.fetch_allowed_hosts;
        try {
          web_ = std::make_unique<web::WebClient>(options);
        } catch (const Error& e) {
          throw Error(e.code(), std::string("[tools] search_url: ") + e.what());
        }
        workflow_deps_->web = web_.get();
      }
      if (config_.tools.forge && forge().available()) workflow_deps_->forge = &forge();
    }
    return persona::workflow_graph(*workflow_deps_);
  }
  std::string names;
  for (const std::string& n : graph_names()) names += (names.empty() ? "" : ", ") + n;
  throw_not_found("graph " + name + ": this build has no such graph (it has: " + names + ")");
}

std::filesystem::path selected_image_dir(const GlobalOptions& options) {
  return options.image_path.empty() ? default_image_dir()
                                    : std::filesystem::path(options.image_path);
}

std::string a4ps_command(const GlobalOptions& options, const std::string& rest) {
  std::string command = "a4ps";
  const std::filesystem::path image = selected_image_dir(options);
  const char* env = std::getenv("A4PS_IMAGE");
  const bool default_image = options.image_path.empty() && (env == nullptr || *env == '\0');
  if (!default_image) command += " --image " + shell_word(image.string());
  if (!options.config_path.empty()) command += " --config " + shell_word(options.config_path);
  if (!options.codex_path.empty()) command += " --codex " + shell_word(options.codex_path);
  return command + " " + rest;
}

Codex load_image_codex(const GlobalOptions& options, const Config& config,
                       const std::filesystem::path& image_dir) {
  GlobalOptions effective = options;
  const auto image_codex = image_dir / "codex" / "persona_codex.toml";
  if (effective.codex_path.empty() && std::getenv("A4PS_CODEX") == nullptr &&
      std::filesystem::exists(image_codex)) {
    effective.codex_path = image_codex.string();
  }
  return load_codex(effective, config);
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
  report_crashed_runs(options, *opened.checkpointer);
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

namespace {

std::atomic<bool> g_ctrl_c{false};

extern "C" void on_ctrl_c(int) {
  g_ctrl_c.store(true);
}

}  // namespace

CancelOnCtrlC::CancelOnCtrlC() {
  g_ctrl_c.store(false);
  std::signal(SIGINT, on_ctrl_c);
  watcher_ = std::jthread([this](std::stop_token done) {
    while (!done.stop_requested()) {
      if (g_ctrl_c.load()) {
        std::fprintf(stderr, "\nstopping at the next step (Ctrl-C); the run stays resumable\n");
        stop_.request_stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

CancelOnCtrlC::~CancelOnCtrlC() {
  watcher_.request_stop();
  watcher_.join();
  std::signal(SIGINT, SIG_DFL);
}

memory::IndexConfig index_config(const MemoryConfig& memory) {
  memory::IndexConfig c;
  c.kind = memory.index;
  c.flat_max = memory.flat_max;
  c.hnsw_m = static_cast<int>(memory.hnsw_m);
  c.hnsw_ef_construction = static_cast<int>(memory.hnsw_ef_construction);
  c.hnsw_ef_search = static_cast<int>(memory.hnsw_ef_search);
  c.ivf_nlist = static_cast<int>(memory.ivf_nlist);
  c.ivf_nprobe = static_cast<int>(memory.ivf_nprobe);
  c.pq_m = static_cast<int>(memory.pq_m);
  return c;
}

std::function<void(std::int64_t, std::int64_t)> count_progress_printer(std::string label) {
  const bool tty = stderr_is_terminal();
  return [tty, label = std::move(label)](std::int64_t done, std::int64_t total) {
    if (tty || done == total) {
      std::fprintf(stderr, "%s%s: %lld of %lld%s", tty ? "\r\033[K" : "", label.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total),
                   done == total ? "\n" : "");
    }
  };
}

std::function<void(const std::string&, float)> load_progress_printer() {
  const bool tty = stderr_is_terminal();
  auto last = std::make_shared<std::map<std::string, int>>();
  return [tty, last](const std::string& name, float progress) {
    const int percent = static_cast<int>(progress * 100.0f);
    int& shown = (*last)[name];
    if (tty) {
      std::fprintf(stderr, "\r\033[Kloading %s ... %d%%%s", name.c_str(), percent,
                   percent >= 100 ? "\n" : "");
    } else if (percent >= 100 && shown < 100) {
      std::fprintf(stderr, "loaded %s\n", name.c_str());
    }
    shown = percent;
  };
}

}  // namespace a4ps::cli
