// cli/cli_context: what every a4ps command shares: the global options, loading config.toml and
// the codex, resolving a persona's model to a local file, and terminal output helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "persona/codex.h"

namespace a4ps::cli {

struct GlobalOptions {
  std::string config_path;  // --config, else $A4PS_CONFIG, else ./config.toml if present
  std::string codex_path;   // --codex, else $A4PS_CODEX, else the built-in codex
  std::string image_path;   // --image, else $A4PS_IMAGE, else the default image folder
  bool verbose = false;
};

void add_global_options(CLI::App& app, GlobalOptions& options);

// The message for a CLI11 usage error, in the a4ps manner: "a command is required" rather than
// CLI11's "A subcommand is required", an unknown option named as such even where CLI11 first
// complains of the missing command, and where to read the usage.
std::string usage_error_text(const CLI::App& app, const CLI::ParseError& error);

// Sets the log level from --verbose; every command calls it first.
void apply_verbosity(const GlobalOptions& options);

// Loads config.toml per the options; prints its warnings once to stderr.
Config load_config(const GlobalOptions& options);
// Loads the codex per the options, validated against `config`; prints its warnings.
Codex load_codex(const GlobalOptions& options, const Config& config);

// True when stderr is a terminal (progress is drawn in place there, else printed as lines).
bool stderr_is_terminal();

// A CLI11 check that the option's value is a whole number of at least `min`; its message names
// the value and the bound ("--limit: 0: must be a whole number, at least 1").
CLI::Validator at_least(long long min);

// Throws unless `path` is a regular file: kNotFound when nothing is there ("LABEL: no such
// file"), kInvalidArgument naming what is there instead (a directory, a FIFO, a socket, a
// device), e.g. "--doc notes: is a directory, not a text file".
void require_regular_file(const std::filesystem::path& path, const std::string& label,
                          const std::string& expected);
// Throws kInvalidArgument when something that is not a regular file is at `path` (as
// require_regular_file); does nothing when nothing is there, for the caller to say so.
void refuse_non_regular_file(const std::filesystem::path& path, const std::string& label,
                             const std::string& expected);

// Registers the subcommands; each file below defines one group.
void add_models_commands(CLI::App& app, const GlobalOptions& options);
void add_generate_command(CLI::App& app, const GlobalOptions& options);
void add_config_commands(CLI::App& app, const GlobalOptions& options);
void add_image_commands(CLI::App& app, const GlobalOptions& options);
void add_thread_commands(CLI::App& app, const GlobalOptions& options);
void add_resume_commands(CLI::App& app, const GlobalOptions& options);
void add_run_command(CLI::App& app, const GlobalOptions& options);
void add_serve_command(CLI::App& app, const GlobalOptions& options);
void add_goals_commands(CLI::App& app, const GlobalOptions& options);
void add_memory_commands(CLI::App& app, const GlobalOptions& options);
void add_tools_commands(CLI::App& app, const GlobalOptions& options);
void add_sandbox_commands(CLI::App& app, const GlobalOptions& options);
void add_evolve_commands(CLI::App& app, const GlobalOptions& options);
void add_plan_command(CLI::App& models, const GlobalOptions& options);
void add_stats_command(CLI::App& models, const GlobalOptions& options);

}  // namespace a4ps::cli
