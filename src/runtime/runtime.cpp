#include "runtime/runtime.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "evolve/strategic_loop.h"
#include "forge/sandbox.h"
#include "llm/llama_backend.h"
#include "persona/capability.h"
#include "runtime/engine_check.h"
#include "runtime/evolve_goal.h"
#include "runtime/model_wiring.h"
#include "web/web_client.h"

namespace a4ps::runtime {
namespace {

using nlohmann::json;

Config load_config_file(const std::filesystem::path& path) {
  Config config = path.empty() ? Config::defaults() : Config::load_file(path.string());
  for (const std::string& warning : config.warnings) log::warn(warning);
  return config;
}

std::unique_ptr<graph::Checkpointer> open_checkpointer(const Image& image, const Config& config) {
  graph::CheckpointerOptions options;
  options.durability =
      graph::durability_from_name(config.graph.durability).value_or(graph::Durability::kNormal);
  options.queue_timeout_ms =
      static_cast<int>(std::min<std::int64_t>(config.graph.queue_timeout_seconds, 86'400) * 1000);
  return graph::Checkpointer::open(image.state_db_path(), options);
}

void report_crashed_runs(const RuntimeOptions& options, graph::Checkpointer& checkpointer) {
  for (const graph::RunInfo& run : checkpointer.recover_crashed_runs()) {
    const std::string resume = options.resume_command ? options.resume_command(run.thread_id)
                                                      : "a4ps resume " + run.thread_id;
    log::warn("run " + run.id + " on thread " + run.thread_id + " was left running by pid " +
              std::to_string(run.pid) + ", which is gone; continue it with: " + resume);
  }
}

}  // namespace

std::vector<std::string> graph_names() {
  return {std::string(persona::kWorkflowGraphName), std::string(persona::kCapabilityGraphName),
          std::string(kEvolveGraphName), std::string(kEngineCheckGraphName)};
}

Config load_image_config(const RuntimeOptions& options) {
  std::error_code ec;
  if (!options.config_path.empty()) return load_config_file(options.config_path);
  const std::filesystem::path own = options.image_dir / "config.toml";
  if (std::filesystem::exists(own, ec)) return load_config_file(own);
  if (!options.config_fallback.empty() && std::filesystem::exists(options.config_fallback, ec)) {
    return load_config_file(options.config_fallback);
  }
  return load_config_file({});
}

Codex load_image_codex(const RuntimeOptions& options, const Config& config) {
  std::filesystem::path path = options.codex_path;
  std::error_code ec;
  const std::filesystem::path own = options.image_dir / "codex" / "persona_codex.toml";
  if (path.empty() && std::filesystem::exists(own, ec)) path = own;
  Codex codex = path.empty() ? Codex::builtin(config) : Codex::load_file(path.string(), config);
  for (const std::string& warning : codex.warnings()) log::warn(warning);
  return codex;
}

std::unique_ptr<graph::Checkpointer> open_state_read_only(const std::filesystem::path& image_dir) {
  if (!std::filesystem::exists(image_dir / "image.toml")) {
    throw_not_found(image_dir.string() + ": no image here (create one with: a4ps init " +
                    image_dir.string() + ")");
  }
  return graph::Checkpointer::open_read_only(image_dir / "state.db");
}

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {}

Runtime::~Runtime() = default;

std::unique_ptr<Runtime> Runtime::open(RuntimeOptions options) {
  std::unique_ptr<Runtime> runtime(new Runtime(std::move(options)));
  runtime->image_ = Image::open(runtime->options_.image_dir);
  runtime->config_ = load_image_config(runtime->options_);
  runtime->checkpointer_ = open_checkpointer(*runtime->image_, runtime->config_);
  report_crashed_runs(runtime->options_, *runtime->checkpointer_);
  return runtime;
}

graph::RunOptions Runtime::run_options() const {
  graph::RunOptions options;
  options.max_steps = static_cast<int>(config_.graph.max_steps);
  options.busy =
      config_.graph.busy == "queue" ? graph::BusyPolicy::kQueue : graph::BusyPolicy::kRefuse;
  return options;
}

void Runtime::on_load_progress(std::function<void(const std::string&, float)> progress) {
  progress_ = std::move(progress);
}

const Codex& Runtime::codex() {
  if (codex_) return *codex_;
  if (!loaded_codex_) loaded_codex_ = load_image_codex(options_, config_);
  Codex running = *loaded_codex_;
  for (const Persona& p : loaded_codex_->personas()) {
    if (auto adapter = evolve().adopted_adapter(p.id)) {
      running = running.with_adapter(p.id, std::move(adapter));
    }
  }
  codex_ = std::move(running);
  return *codex_;
}

evolve::StrategicLoop& Runtime::evolve() {
  if (evolve_) return *evolve_;
  if (!loaded_codex_) loaded_codex_ = load_image_codex(options_, config_);
  evolve::StrategicDeps deps;
  deps.image_dir = image_->dir();
  deps.config = config_.evolve;
  deps.codex = &*loaded_codex_;
  deps.checkpointer = checkpointer_.get();
  deps.speaker = [this]() -> persona::Speaker& {
    if (!judge_speaker_) {
      judge_speaker_ = std::make_unique<persona::Speaker>(
          models(), codex(), static_cast<int>(config_.inference.context_size));
    }
    return *judge_speaker_;
  };
  deps.local_model = [this](const Persona& p) { return local_model_file(config_, p); };
  deps.reply = [this](const Persona& p, const evolve::ChatExample& prompt,
                      std::optional<llm::LoraAdapter> adapter) {
    llm::ChatRequest request;
    request.messages = prompt;
    request.sampling = p.sampling;
    request.max_tokens = p.max_tokens;
    if (adapter) request.adapters.push_back(*adapter);
    return models().chat(p.model, std::move(request)).text;
  };
  evolve_ = std::make_unique<evolve::StrategicLoop>(std::move(deps));
  return *evolve_;
}

llm::ModelManager& Runtime::models() {
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

void Runtime::check_models_reachable() {
  llm::ModelManager& manager = models();
  std::set<std::string> names;
  // Not the embedding model: without it the workflow measures with the lexical embedder.
  for (const Persona& p : codex().personas()) names.insert(p.model);
  for (const std::string& name : names) {
    try {
      manager.check_reachable(name);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable) throw;
      throw Error(e.code(), "model " + name + " ([models] " + name + " in " + config_.source +
                                "): " + e.what() + "; nothing was started");
    }
  }
}

llm::ModelManager& Runtime::embedding_models() {
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

forge::ToolRegistry& Runtime::tools() {
  if (!tools_) tools_ = forge::ToolRegistry::open(image_->dir());
  return *tools_;
}

forge::ToolForge& Runtime::forge() {
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

persona::WorkflowDeps& Runtime::workflow_deps() {
  if (workflow_deps_) return *workflow_deps_;
  auto deps = std::make_unique<persona::WorkflowDeps>();
  deps->models = &models();
  deps->codex = &codex();
  deps->socratic = config_.socratic;
  deps->motivator = config_.motivator;
  deps->context_tokens = static_cast<int>(config_.inference.context_size);
  deps->bus = &bus_;
  if (config_.models.refs.contains("embedding")) deps->embedding_model = "embedding";
  deps->memory = &memory();
  if (!config_.tools.search_url.empty() || !config_.tools.fetch_allowed_hosts.empty()) {
    web::WebOptions options;
    options.search_url = config_.tools.search_url;
    options.allowed_hosts = config_.tools.fetch_allowed_hosts;
    try {
      web_ = std::make_unique<web::WebClient>(options);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("[tools] search_url: ") + e.what());
    }
    deps->web = web_.get();
  }
  if (config_.tools.forge && forge().available()) deps->forge = &forge();
  workflow_deps_ = std::move(deps);
  return *workflow_deps_;
}

graph::CompiledGraph Runtime::graph(const std::string& name) {
  if (name == kEngineCheckGraphName) return engine_check_graph();
  if (name == kEvolveGraphName) return evolve_graph(evolve());
  if (name == persona::kWorkflowGraphName) return persona::workflow_graph(workflow_deps());
  if (name == persona::kCapabilityGraphName) {
    // The forge even where the workflow has none (no sandbox): its refusal then says why.
    persona::WorkflowDeps deps = workflow_deps();
    deps.forge = &forge();
    return persona::capability_graph(deps);
  }
  std::string names;
  for (const std::string& n : graph_names()) names += (names.empty() ? "" : ", ") + n;
  throw_not_found("graph " + name + ": this build has no such graph (it has: " + names + ")");
}

json Runtime::health() {
  json degraded = json::array();
  const bool gpu = llm::llama_gpu_offload_supported();
  if (!gpu) degraded.push_back("no GPU offload in this build: local models run on the CPU");
  json sandbox = nullptr;
  const forge::ToolForge& tool_forge = forge();
  if (!tool_forge.available()) {
    degraded.push_back("no sandbox (" + tool_forge.sandbox_problem() +
                       "): the Tool Forge cannot run tools");
  } else {
    sandbox = std::string(forge::runtime_name(tool_forge.sandbox().runtime()));
    if (tool_forge.sandbox().runtime() != forge::SandboxRuntime::kRunsc) {
      degraded.push_back("gVisor (runsc) does not work here: tools run under bubblewrap");
    }
  }
  return {{"image", image_->dir().string()},
          {"gpu_offload", gpu},
          {"sandbox", sandbox},
          {"degraded", degraded}};
}

}  // namespace a4ps::runtime
