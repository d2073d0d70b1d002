// a4ps config defaults | show | check
#include <iostream>
#include <optional>
#include <vector>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "llm/gguf_info.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

// The image `config check` reads, as `run` would: --image, $A4PS_IMAGE or the default image
// folder when it holds an image. An image named explicitly must exist.
std::optional<std::filesystem::path> image_to_check(const GlobalOptions& options) {
  const std::filesystem::path dir = selected_image_dir(options);
  std::error_code ec;
  if (std::filesystem::exists(dir / "image.toml", ec)) return dir;
  const char* env = std::getenv("A4PS_IMAGE");
  if (!options.image_path.empty() || (env != nullptr && *env != '\0')) {
    throw_not_found(dir.string() + ": no image here (create one with: a4ps init " + dir.string() +
                    ")");
  }
  return std::nullopt;
}

// Checks every [models] reference as loading it would: well-formed, and for a local file that
// it exists and is a GGUF model (its header is read; no weights are loaded; servers are not
// contacted). Adds a problem per bad reference; returns the summary line for the good ones.
std::string check_models(const Config& config, std::vector<Error>& problems) {
  int local = 0, remote = 0;
  for (const auto& [name, text] : config.models.refs) {
    const std::string where = config.source + ": [models] " + name + " = \"" + text + "\": ";
    try {
      const llm::ModelRef ref = runtime::resolve_model(config, name);
      if (ref.source != llm::ModelSource::kLocalGguf) {
        ++remote;
        continue;
      }
      refuse_non_regular_file(ref.path, ref.path.string(), "a GGUF model file");
      llm::inspect_gguf(ref.path);
      ++local;
    } catch (const Error& e) {
      const std::string message = e.what();
      // resolve_model already names the file and the key.
      problems.emplace_back(e.code(),
                            message.starts_with(config.source) ? message : where + message);
    }
  }
  return "[models]: " + std::to_string(local) + " local GGUF model(s) checked, " +
         std::to_string(remote) +
         " served by Ollama or an OpenAI-compatible server (not contacted)";
}

// Validates what `run` would load: the image's config.toml and codex (or --config/--codex),
// and every model reference; names each problem, then fails with the first one's code.
void check(const GlobalOptions& options) {
  apply_verbosity(options);
  const std::optional<std::filesystem::path> image = image_to_check(options);
  std::vector<Error> problems;
  std::optional<Config> config;
  try {
    config = image ? runtime::load_image_config(runtime_options(options)) : load_config(options);
    std::cout << config->source << ": valid"
              << (config->warnings.empty() ? "" : " (with warnings above)") << "\n";
  } catch (const Error& e) {
    problems.push_back(e);
  }
  if (config) {
    try {
      const Codex codex = image ? runtime::load_image_codex(runtime_options(options), *config)
                                : load_codex(options, *config);
      std::cout << codex.source() << ": valid, personas";
      for (const Persona& p : codex.personas()) std::cout << " " << p.name;
      std::cout << "\n";
    } catch (const Error& e) {
      problems.push_back(e);
    }
    const size_t before = problems.size();
    const std::string models = check_models(*config, problems);
    if (problems.size() == before) std::cout << models << "\n";
  }
  if (problems.empty()) return;
  if (problems.size() == 1) throw problems.front();
  for (const Error& e : problems) std::cerr << "a4ps: error: " << e.what() << "\n";
  throw Error(problems.front().code(),
              "config check: " + std::to_string(problems.size()) + " problems (above)");
}

}  // namespace

void add_config_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* config_cmd = app.add_subcommand("config", "Show and check config.toml and the codex");
  config_cmd->require_subcommand(1);
  config_cmd->add_subcommand("defaults", "Print a config.toml with every key, its default and docs")
      ->callback([] { std::cout << render_default_config(); });
  config_cmd->add_subcommand("show", "Print the effective configuration")->callback([&options] {
    const Config config = load_config(options);
    std::cout << "# from " << config.source << "\n" << render_config(config);
  });
  config_cmd
      ->add_subcommand(
          "check",
          "Validate what a run would load: the image's config.toml and codex (or --config and "
          "--codex), and every [models] reference (a local file must be a GGUF model); names "
          "each problem; exit 0 if all are valid")
      ->callback([&options] { check(options); });
}

}  // namespace a4ps::cli
