// a4ps: the command-line front end of A4PS, the Living Image.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/cli_context.h"
#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/log.h"
#include "llm/llama_backend.h"

#ifndef A4PS_VERSION
#define A4PS_VERSION "0.0.0"
#endif
#ifndef A4PS_LLAMA_COMMIT
#define A4PS_LLAMA_COMMIT "unknown"
#endif

namespace {

std::string version_text() {
  return std::string("a4ps ") + A4PS_VERSION + "\nllama.cpp " + A4PS_LLAMA_COMMIT +
         " (from npm node-llama-cpp)\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace a4ps;
  CLI::App app{
      "A4PS, the Living Image: four personas (ALFRED, BABS, BRICK, ROBIN) on small local "
      "models.\n\nExamples:\n"
      "  a4ps models mktest tiny.gguf --seed 7        # a tiny random model to try things on\n"
      "  a4ps models info tiny.gguf\n"
      "  a4ps generate --model tiny.gguf \"Hello\"\n"
      "  a4ps generate --persona BRICK \"Plan the onboarding\"  # uses config.toml + codex\n"
      "  a4ps config defaults > config.toml           # every key, documented\n",
      "a4ps"};
  app.require_subcommand(1);
  // Global options (--config, --codex, -v) may also follow the command.
  app.fallthrough();
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and exit");
  cli::GlobalOptions options;
  cli::add_global_options(app, options);
  cli::add_models_commands(app, options);
  cli::add_generate_command(app, options);
  cli::add_config_commands(app, options);
  cli::add_image_commands(app, options);
  cli::add_evolve_commands(app, options);
  cli::add_thread_commands(app, options);
  cli::add_run_command(app, options);
  cli::add_memory_commands(app, options);
  cli::add_sandbox_commands(app, options);
  cli::add_resume_commands(app, options);
  cli::add_serve_command(app, options);
  cli::add_goals_commands(app, options);
  cli::add_tools_commands(app, options);

  // --version works alone, without a subcommand.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << version_text() << llm::llama_system_info() << "\n";
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    // A command that reports its outcome as an exit status (a4ps sandbox run).
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // --help exits 0 through CLI11's own printing; usage errors exit 2, like InvalidArgument.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "a4ps: error: " << cli::usage_error_text(app, e) << "\n";
    return exit_code_for(ErrorCode::kInvalidArgument);
  } catch (const Error& e) {
    std::cerr << "a4ps: error: " << cli::with_invocation_in_hints(e.what(), options) << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "a4ps: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
