// runtime/model_wiring: how config.toml's [models], [budget] and [inference] become a
// ModelManager: the reference a model name holds, the manager's options, and registering a
// local GGUF file, an Ollama model or an OpenAI-compatible server's model under a name. The
// Runtime uses these, and so do the commands that need models but no image (a4ps generate,
// a4ps models stats).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "image/image_file.h"
#include "llm/model_manager.h"
#include "llm/model_ref.h"
#include "persona/codex.h"

namespace a4ps::runtime {

// The reference a model name in [models] holds, parsed (relative paths against the directory of
// config.toml). Throws kNotFound for an unknown name, kInvalidArgument for a malformed one.
llm::ModelRef resolve_model(const Config& config, const std::string& model_name);
// The local GGUF file of `persona`'s model. Throws kFailedPrecondition when the model is
// served by Ollama or an OpenAI-compatible server (nothing A4PS can train or evaluate).
std::filesystem::path local_model_file(const Config& config, const Persona& persona);

// The ModelManager's budget, policy, keep-alive and load settings from config.toml.
llm::ModelManagerOptions model_manager_options(const Config& config);

// Makes `ref` known to `manager` under `key`: a local GGUF file, an Ollama model (keep_alive 0
// under the "sequential" policy) or an OpenAI-compatible server's model.
void register_model_ref(llm::ModelManager& manager, const Config& config, const std::string& key,
                        const llm::ModelRef& ref, llm::ModelPurpose purpose);

// [budget.keep_alive_by_model] for `model`, if set.
std::optional<std::chrono::milliseconds> keep_alive_for(const Config& config,
                                                        const std::string& model);

// The SHA-256 of a local model file, computed once per (path, size, modification time) and
// kept in `dir`/model-ids.json (IMAGE/index: derived, like the rest of index/).
std::string model_content_id(const std::filesystem::path& model, const std::filesystem::path& dir);

// The local GGUF files config.toml's [models] names, with their size, SHA-256 and architecture,
// for the image file's manifest (entries that are not local files, or do not resolve, are left
// out).
std::vector<BaseModel> base_models_of(const Config& config, const std::filesystem::path& image_dir);

}  // namespace a4ps::runtime
