// a4ps init [DIR] | a4ps image info|unlock [DIR]
#include <iostream>

#include "cli/cli_context.h"
#include "image/image.h"
#include "image/state_db.h"

namespace a4ps::cli {
namespace {

std::filesystem::path image_dir(const GlobalOptions& options, const std::string& positional) {
  if (!positional.empty()) return positional;
  if (!options.image_path.empty()) return options.image_path;
  return default_image_dir();
}

}  // namespace

void add_image_commands(CLI::App& app, const GlobalOptions& options) {
  auto dir = std::make_shared<std::string>();
  CLI::App* init = app.add_subcommand(
      "init",
      "Create a new image: the directory that holds the whole persistent self (config.toml, "
      "the persona codex, state.db, tools, adapters, models, datasets). DIR defaults to "
      "--image, $A4PS_IMAGE or ~/.local/share/a4ps/image");
  init->add_option("dir", *dir, "Where to create it (new or empty)")->type_name("DIR");
  init->callback([&options, dir] {
    apply_verbosity(options);
    const std::filesystem::path target = image_dir(options, *dir);
    Image::create(target, std::string(Codex::builtin_text()));
    std::cout << "created image " << target.string() << " (format " << kImageFormatVersion
              << ", state.db schema " << current_state_db_version() << ")\n";
  });

  CLI::App* image = app.add_subcommand("image", "Inspect and maintain an image");
  image->require_subcommand(1);
  auto info_dir = std::make_shared<std::string>();
  CLI::App* info = image->add_subcommand(
      "info", "Open the image (taking its lock, migrating state.db) and describe it");
  info->add_option("dir", *info_dir, "The image (default: --image, $A4PS_IMAGE, ...)");
  info->callback([&options, info_dir] {
    apply_verbosity(options);
    const auto opened = Image::open(image_dir(options, *info_dir));
    std::cout << opened->dir().string() << "\n  format " << kImageFormatVersion
              << ", state.db schema " << opened->schema_version() << "\n  config "
              << opened->config_path().string() << "\n  codex  " << opened->codex_path().string()
              << "\n";
  });
  auto unlock_dir = std::make_shared<std::string>();
  CLI::App* unlock = image->add_subcommand(
      "unlock", "Clear a stale lock left by a process that died (refused while it runs)");
  unlock->add_option("dir", *unlock_dir, "The image (default: --image, $A4PS_IMAGE, ...)");
  unlock->callback([&options, unlock_dir] {
    apply_verbosity(options);
    const std::filesystem::path target = image_dir(options, *unlock_dir);
    Image::clear_stale_lock(target);
    std::cout << target.string() << ": unlocked\n";
  });
}

}  // namespace a4ps::cli
