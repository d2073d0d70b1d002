#include "runtime/model_wiring.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "core/log.h"
#include "llm/gguf_info.h"
#include "llm/ollama_backend.h"
#include "llm/openai_backend.h"

namespace a4ps::runtime {

using nlohmann::json;

llm::ModelRef resolve_model(const Config& config, const std::string& model_name) {
  const auto found = config.models.refs.find(model_name);
  if (found == config.models.refs.end()) {
    throw_not_found("model " + model_name + ": not named in " + config.source + " [models]");
  }
  const std::filesystem::path base = config.source == "<defaults>"
                                         ? std::filesystem::path(".")
                                         : std::filesystem::path(config.source).parent_path();
  try {
    return llm::ModelRef::parse(found->second, base);
  } catch (const Error& e) {
    throw Error(e.code(), config.source + ": [models] " + model_name + ": " + e.what());
  }
}

std::filesystem::path local_model_file(const Config& config, const Persona& persona) {
  const llm::ModelRef ref = resolve_model(config, persona.model);
  if (ref.source != llm::ModelSource::kLocalGguf) {
    throw Error(ErrorCode::kFailedPrecondition,
                persona.name + "'s model [models] " + persona.model + " = \"" + ref.text +
                    "\" is served by a model server; A4PS trains and measures adapters for "
                    "local GGUF files only (point [models] " +
                    persona.model + " at one)");
  }
  return ref.path;
}

llm::ModelManagerOptions model_manager_options(const Config& config) {
  llm::ModelManagerOptions o;
  o.budget_bytes = static_cast<uint64_t>(config.budget.memory_mb) << 20;
  o.policy = llm::parse_budget_policy(config.budget.policy);
  o.keep_alive = std::chrono::seconds(config.budget.keep_alive_seconds);
  o.prefix_cache_bytes = static_cast<size_t>(config.budget.prefix_cache_mb) << 20;
  o.prefix_cache_dir = config.budget.prefix_cache_dir;
  o.load_defaults.n_ctx = static_cast<uint32_t>(config.inference.context_size);
  o.load_defaults.n_batch = static_cast<uint32_t>(config.inference.batch_size);
  o.load_defaults.n_threads = static_cast<int32_t>(config.inference.threads);
  o.load_defaults.n_gpu_layers = static_cast<int32_t>(config.inference.gpu_layers);
  o.load_defaults.use_mmap = config.inference.mmap;
  o.call_timeout = std::chrono::seconds(config.inference.call_timeout_seconds);
  return o;
}

void register_model_ref(llm::ModelManager& manager, const Config& config, const std::string& key,
                        const llm::ModelRef& ref, llm::ModelPurpose purpose) {
  if (ref.source == llm::ModelSource::kLocalGguf) {
    manager.register_model(key, ref.path, purpose, keep_alive_for(config, key));
  } else if (ref.source == llm::ModelSource::kOllama) {
    // The blueprint's keep_alive 0 under "sequential"; otherwise the configured idle time.
    const auto keep_alive = manager.options().policy == llm::BudgetPolicy::kSequential
                                ? std::chrono::seconds(0)
                                : std::chrono::seconds(config.budget.keep_alive_seconds);
    manager.register_remote(
        key, std::make_unique<llm::OllamaBackend>(llm::default_ollama_url(), ref.name, keep_alive));
  } else {
    manager.register_remote(key, std::make_unique<llm::OpenAIBackend>(ref.base_url, ref.name));
  }
}

std::optional<std::chrono::milliseconds> keep_alive_for(const Config& config,
                                                        const std::string& model) {
  const auto it = config.budget.keep_alive_by_model.find(model);
  if (it == config.budget.keep_alive_by_model.end()) return std::nullopt;
  return std::chrono::seconds(it->second);
}

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

std::vector<BaseModel> base_models_of(const Config& config,
                                      const std::filesystem::path& image_dir) {
  std::vector<BaseModel> out;
  for (const auto& [name, value] : config.models.refs) {
    llm::ModelRef ref;
    try {
      ref = resolve_model(config, name);
    } catch (const Error& e) {
      log::warn(std::string("image file: [models] ") + name + " is not recorded: " + e.what());
      continue;
    }
    std::error_code ec;
    if (ref.source != llm::ModelSource::kLocalGguf ||
        !std::filesystem::is_regular_file(ref.path, ec)) {
      continue;
    }
    BaseModel b;
    b.name = name;
    b.path = std::filesystem::absolute(ref.path);
    b.size = std::filesystem::file_size(ref.path);
    b.sha256 = model_content_id(ref.path, image_dir / "index");
    try {
      b.architecture = llm::inspect_gguf(ref.path).architecture;
    } catch (const Error&) {
      b.architecture = "";
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace a4ps::runtime
