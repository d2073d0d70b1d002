#include "cli/cli_context.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/log.h"

namespace a4ps::cli {
namespace {

std::string from_env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

void add_global_options(CLI::App& app, GlobalOptions& options) {
  app.add_option("--config", options.config_path,
                 "config.toml to use (default: $A4PS_CONFIG, else ./config.toml if it exists, "
                 "else built-in defaults; see `a4ps config defaults`)")
      ->type_name("FILE");
  app.add_option("--codex", options.codex_path,
                 "persona_codex.toml to use (default: $A4PS_CODEX, else the built-in codex)")
      ->type_name("FILE");
  app.add_option("--image", options.image_path,
                 "The image to use (default: $A4PS_IMAGE, else ~/.local/share/a4ps/image)")
      ->type_name("DIR");
  app.add_flag("-v,--verbose", options.verbose, "Log what happens, llama.cpp included");
}

void apply_verbosity(const GlobalOptions& options) {
  if (options.verbose) log::set_level(log::Level::kDebug);
}

Config load_config(const GlobalOptions& options) {
  apply_verbosity(options);
  std::string path = options.config_path;
  if (path.empty()) path = from_env("A4PS_CONFIG");
  if (path.empty() && std::filesystem::exists("config.toml")) path = "config.toml";
  Config config = path.empty() ? Config::defaults() : Config::load_file(path);
  for (const std::string& warning : config.warnings) log::warn(warning);
  return config;
}

Codex load_codex(const GlobalOptions& options, const Config& config) {
  std::string path = options.codex_path;
  if (path.empty()) path = from_env("A4PS_CODEX");
  Codex codex = path.empty() ? Codex::builtin(config) : Codex::load_file(path, config);
  for (const std::string& warning : codex.warnings()) log::warn(warning);
  return codex;
}

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

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) != 0;
}

}  // namespace a4ps::cli
