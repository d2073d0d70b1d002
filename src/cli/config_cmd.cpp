// a4ps config defaults | show | check
#include <iostream>

#include "cli/cli_context.h"

namespace a4ps::cli {

void add_config_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* config_cmd = app.add_subcommand("config", "Show and check config.toml and the codex");
  config_cmd->require_subcommand(1);
  config_cmd->add_subcommand("defaults", "Print a config.toml with every key, its default and docs")
      ->callback([] { std::cout << render_default_config(); });
  config_cmd->add_subcommand("show", "Print the effective configuration")->callback([&options] {
    const Config config = load_config(options);
    std::cout << "# from " << config.source << "\n" << render_config(config);
  });
  config_cmd->add_subcommand("check", "Validate config.toml and the persona codex; exit 0 if valid")
      ->callback([&options] {
        const Config config = load_config(options);
        const Codex codex = load_codex(options, config);
        std::cout << config.source << ": valid"
                  << (config.warnings.empty() ? "" : " (with warnings above)") << "\n"
                  << codex.source() << ": valid, personas";
        for (const Persona& p : codex.personas()) std::cout << " " << p.name;
        std::cout << "\n";
      });
}

}  // namespace a4ps::cli
