// persona/codex: the persona codex (persona_codex.toml), the system's invariant organization:
// each persona's role, model, system prompt, core imperatives and sampling settings. Loaded
// and validated like config.toml; a codex that names a model config.toml does not know is an
// error. Amendments (later) change it only with a human's approval.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "llm/backend.h"

namespace a4ps {

struct Persona {
  std::string id;    // table name, lower case: "brick"
  std::string name;  // display name: "BRICK"
  std::string role;
  std::string model;  // a name in config.toml [models]
  std::string system_prompt;
  std::vector<std::string> core_imperatives;
  llm::SamplingParams sampling;
  int32_t max_tokens = 384;
  // A LoRA adapter applied to the persona's model for its turns (`adapter`, `adapter_scale`;
  // a relative path is relative to the codex file). Local GGUF models only.
  std::optional<llm::LoraAdapter> adapter;

  // The system message the persona's model receives: the prompt and its imperatives.
  std::string full_system_prompt() const;
};

class Codex {
 public:
  // Parses and validates; `config` supplies the model names the codex may use. Throws
  // a4ps::Error: kNotFound (no file), kInvalidArgument (syntax, missing persona or key, wrong
  // type or value, unknown model name).
  static Codex load_file(const std::filesystem::path& path, const Config& config);
  static Codex load_string(std::string_view text, std::string_view source, const Config& config);
  // The codex shipped inside the binary (data/persona_codex.toml).
  static Codex builtin(const Config& config);
  static std::string_view builtin_text();

  // The four personas every codex must define, in workflow order.
  static const std::vector<std::string>& required_personas();

  // By id or display name, case-insensitive. Throws kNotFound listing the known ones.
  const Persona& persona(std::string_view id_or_name) const;
  const std::vector<Persona>& personas() const { return personas_; }
  // The copy the running system uses once the strategic loop has adopted an adapter for a
  // persona: that adapter instead of the codex's own. Throws kNotFound for an unknown persona.
  Codex with_adapter(std::string_view persona_id, std::optional<llm::LoraAdapter> adapter) const;
  int64_t version() const { return version_; }
  const std::string& source() const { return source_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  int64_t version_ = 1;
  std::string source_;
  std::vector<Persona> personas_;
  std::vector<std::string> warnings_;
};

}  // namespace a4ps
