#include "cli/cli_context.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/files.h"
#include "core/log.h"
#include "core/text.h"

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

std::string usage_error_text(const CLI::App& app, const CLI::ParseError& error) {
  // The command being parsed when the error came: the deepest one selected.
  const CLI::App* leaf = &app;
  std::string path = "a4ps";
  while (!leaf->get_subcommands().empty()) {
    leaf = leaf->get_subcommands().front();
    path += " " + leaf->get_name();
  }
  const std::string help = " (see: " + path + " --help)";
  const std::string message = error.what();
  if (error.get_name() == "RequiredError" && message.starts_with("A subcommand")) {
    // CLI11 checks for the missing command before it complains of what it did not know.
    const std::vector<std::string> extras = app.remaining(true);
    if (!extras.empty()) {
      return (extras.front().starts_with("-") ? "unknown option " : "unknown command ") +
             extras.front() + " for " + path + help;
    }
    return path + ": a command is required" + help;
  }
  return message + help;
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

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) != 0;
}

CLI::Validator at_least(long long min) {
  const std::string bound = "must be a whole number, at least " + std::to_string(min);
  return CLI::Validator(
      [min, bound](const std::string& value) -> std::string {
        long long n = 0;
        size_t used = 0;
        try {
          n = std::stoll(value, &used);
        } catch (const std::exception&) {
          return value + ": " + bound;
        }
        if (used != value.size() || n < min) return value + ": " + bound;
        return {};
      },
      "");
}

void refuse_non_regular_file(const std::filesystem::path& path, const std::string& label,
                             const std::string& expected) {
  const std::string kind = non_regular_kind(path);
  if (!kind.empty()) throw_invalid_argument(label + ": is " + kind + ", not " + expected);
}

void require_regular_file(const std::filesystem::path& path, const std::string& label,
                          const std::string& expected) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return;
  const std::string kind = non_regular_kind(path);
  if (kind.empty()) throw_not_found(label + ": no such file");
  throw_invalid_argument(label + ": is " + kind + ", not " + expected);
}

}  // namespace a4ps::cli
