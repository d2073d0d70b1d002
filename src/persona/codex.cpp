#include "persona/codex.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "core/toml_field.h"

namespace a4ps {

extern const char kBuiltinCodexText[];  // generated from data/persona_codex.toml

namespace {

constexpr int64_t kCodexFormatVersion = 1;

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void load_sampling(const toml::table& table, const TomlField& where, Persona& p,
                   std::vector<std::string>& warnings) {
  for (auto&& [key, value] : table) {
    const TomlField f{where.source, where.section, key.str()};
    const std::string_view k = key.str();
    if (k == "temperature")
      p.sampling.temperature = static_cast<float>(f.number(value, 0, 5));
    else if (k == "top_k")
      p.sampling.top_k = static_cast<int32_t>(f.integer(value, 0, 1000));
    else if (k == "top_p")
      p.sampling.top_p = static_cast<float>(f.number(value, 0.01, 1));
    else if (k == "min_p")
      p.sampling.min_p = static_cast<float>(f.number(value, 0, 1));
    else if (k == "repeat_penalty")
      p.sampling.repeat_penalty = static_cast<float>(f.number(value, 0.5, 3));
    else if (k == "repeat_last_n")
      p.sampling.repeat_last_n = static_cast<int32_t>(f.integer(value, 0, 4096));
    else if (k == "seed")
      p.sampling.seed = static_cast<uint32_t>(f.integer(value, 0, UINT32_MAX));
    else if (k == "max_tokens")
      p.max_tokens = static_cast<int32_t>(f.integer(value, 1, 32768));
    else
      warnings.push_back(std::string(where.source) + ": unknown key [" +
                         std::string(where.section) + "] " + std::string(k) + " (ignored)");
  }
}

Persona load_persona(std::string_view source, const std::string& id, const toml::table& table,
                     const Config& config, std::vector<std::string>& warnings) {
  Persona p;
  p.id = id;
  const std::string section = "persona." + id;
  const auto require = [&](std::string_view key) -> const toml::node& {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      throw_invalid_argument(std::string(source) + ": [" + section + "] has no " +
                             std::string(key) +
                             "; every persona needs name, role, model and "
                             "system_prompt");
    }
    return *node;
  };
  p.name = TomlField{source, section, "name"}.non_empty_string(require("name"));
  p.role = TomlField{source, section, "role"}.non_empty_string(require("role"));
  p.system_prompt =
      TomlField{source, section, "system_prompt"}.non_empty_string(require("system_prompt"));
  const TomlField model_field{source, section, "model"};
  p.model = model_field.non_empty_string(require("model"));
  if (!config.models.refs.contains(p.model)) {
    std::vector<std::string> known;
    for (const auto& [name, ref] : config.models.refs) known.push_back(name);
    model_field.reject(require("model"),
                       "a model named in " + config.source + " [models] (" + joined(known) + ")");
  }
  for (auto&& [key, value] : table) {
    const std::string_view k = key.str();
    if (k == "core_imperatives") {
      p.core_imperatives = TomlField{source, section, k}.string_array(value);
    } else if (k == "sampling") {
      const std::string sub = section + ".sampling";
      if (!value.is_table()) TomlField{source, section, k}.reject(value, "a table");
      load_sampling(*value.as_table(), TomlField{source, sub, ""}, p, warnings);
    } else if (k == "adapter") {
      std::filesystem::path path = TomlField{source, section, k}.non_empty_string(value);
      if (path.is_relative() && !source.starts_with("<")) {
        path = std::filesystem::path(source).parent_path() / path;
      }
      if (!p.adapter) p.adapter = llm::LoraAdapter{};
      p.adapter->path = path.string();
    } else if (k == "adapter_scale") {
      if (!p.adapter) p.adapter = llm::LoraAdapter{};
      p.adapter->scale = static_cast<float>(TomlField{source, section, k}.number(value, -4, 4));
    } else if (k != "name" && k != "role" && k != "model" && k != "system_prompt") {
      warnings.push_back(std::string(source) + ": unknown key [" + section + "] " + std::string(k) +
                         " (ignored)");
    }
  }
  if (p.adapter && p.adapter->path.empty()) {
    throw_invalid_argument(std::string(source) + ": [" + section +
                           "] adapter_scale is set but adapter (the LoRA file) is not");
  }
  return p;
}

}  // namespace

std::string Persona::full_system_prompt() const {
  std::string prompt = system_prompt;
  while (!prompt.empty() && (prompt.back() == '\n' || prompt.back() == ' ')) prompt.pop_back();
  if (!core_imperatives.empty()) {
    prompt += "\n\nYour core imperatives:\n";
    for (const std::string& imperative : core_imperatives) prompt += "- " + imperative + "\n";
  }
  return prompt;
}

const std::vector<std::string>& Codex::required_personas() {
  static const std::vector<std::string> ids = {"alfred", "babs", "brick", "robin"};
  return ids;
}

std::string_view Codex::builtin_text() {
  return kBuiltinCodexText;
}

Codex Codex::builtin(const Config& config) {
  return load_string(builtin_text(), "<built-in persona_codex.toml>", config);
}

Codex Codex::load_file(const std::filesystem::path& path, const Config& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_not_found(path.string() + ": no such codex file");
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path.string(), config);
}

Codex Codex::load_string(std::string_view text, std::string_view source, const Config& config) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw_invalid_argument(std::string(source) + ":" + std::to_string(e.source().begin.line) + ":" +
                           std::to_string(e.source().begin.column) +
                           ": TOML syntax error: " + std::string(e.description()));
  }
  Codex codex;
  codex.source_ = std::string(source);
  if (const toml::node* version = root.get("version")) {
    const TomlField field{source, "", "version"};
    if (!version->is_integer() || version->as_integer()->get() != kCodexFormatVersion) {
      field.reject(*version,
                   std::to_string(kCodexFormatVersion) + " (the codex format this build reads)");
    }
    codex.version_ = kCodexFormatVersion;
  }
  const toml::node* personas = root.get("persona");
  if (personas == nullptr || !personas->is_table()) {
    throw_invalid_argument(std::string(source) + ": no [persona.NAME] tables; a codex defines " +
                           joined(required_personas()));
  }
  for (const std::string& id : required_personas()) {
    const toml::node* table = personas->as_table()->get(id);
    if (table == nullptr || !table->is_table()) {
      throw_invalid_argument(std::string(source) + ": [persona." + id +
                             "] is missing; a codex defines " + joined(required_personas()));
    }
    codex.personas_.push_back(
        load_persona(source, id, *table->as_table(), config, codex.warnings_));
  }
  for (auto&& [key, value] : *personas->as_table()) {
    const std::string id(key.str());
    if (std::find(required_personas().begin(), required_personas().end(), id) ==
        required_personas().end()) {
      codex.warnings_.push_back(codex.source_ + ": unknown persona [persona." + id +
                                "] (ignored; the workflow has " + joined(required_personas()) +
                                ")");
    }
  }
  for (auto&& [key, value] : root) {
    if (key.str() != "version" && key.str() != "persona") {
      codex.warnings_.push_back(codex.source_ + ": unknown key " + std::string(key.str()) +
                                " (ignored)");
    }
  }
  return codex;
}

const Persona& Codex::persona(std::string_view id_or_name) const {
  const std::string wanted = to_lower(id_or_name);
  for (const Persona& p : personas_) {
    if (p.id == wanted || to_lower(p.name) == wanted) return p;
  }
  std::vector<std::string> names;
  for (const Persona& p : personas_) names.push_back(p.name);
  throw_not_found("persona " + std::string(id_or_name) +
                  ": not in the codex (personas: " + joined(names) + ")");
}

Codex Codex::with_adapter(std::string_view persona_id,
                          std::optional<llm::LoraAdapter> adapter) const {
  Codex copy = *this;
  const Persona& p = persona(persona_id);  // kNotFound names the known ones
  for (Persona& q : copy.personas_) {
    if (q.id == p.id) q.adapter = std::move(adapter);
  }
  return copy;
}

}  // namespace a4ps
