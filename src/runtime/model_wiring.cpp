#include "runtime/model_wiring.h"

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "llm/ollama_backend.h"
#include "llm/openai_backend.h"

namespace a4ps::runtime {

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

}  // namespace a4ps::runtime
