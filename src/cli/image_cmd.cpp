// a4ps init [DIR] | a4ps image info|unlock [DIR] | a4ps image save|verify|restore
#include <cstdio>
#include <iostream>

#include "cli/cli_context.h"
#include "core/config.h"
#include "core/error.h"
#include "image/image.h"
#include "image/image_file.h"
#include "image/state_db.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::filesystem::path image_dir(const GlobalOptions& options, const std::string& positional) {
  if (!positional.empty()) return positional;
  if (!options.image_path.empty()) return options.image_path;
  return default_image_dir();
}

struct ImageFileArgs {
  std::string file;
  std::string dir;
  bool with_models = false;
  bool without_index = false;
  bool include_secrets = false;
  std::vector<std::string> model_dirs;
  bool strict = false;
  bool json = false;
};

// Progress of a save or a restore on stderr: in place on a terminal, else a line per tenth.
FileProgress byte_progress(const std::string& verb) {
  auto last = std::make_shared<int>(-1);
  const bool terminal = stderr_is_terminal();
  return [verb, last, terminal](std::uint64_t done, std::uint64_t total) {
    const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    if (percent == *last || (!terminal && percent / 10 == *last / 10)) return;
    *last = percent;
    std::fprintf(stderr,
                 terminal ? "\r%s: %3d%% (%.1f of %.1f MiB)" : "%s: %d%% (%.1f of %.1f MiB)\n",
                 verb.c_str(), percent, static_cast<double>(done) / 1048576.0,
                 static_cast<double>(total) / 1048576.0);
    if (terminal && done >= total) std::fprintf(stderr, "\n");
  };
}

void save(const GlobalOptions& options, const ImageFileArgs& a) {
  const std::filesystem::path dir = image_dir(options, a.dir);
  SaveOptions o;
  o.with_models = a.with_models;
  o.without_index = a.without_index;
  o.include_secrets = a.include_secrets;
  o.a4ps_version = A4PS_VERSION;
  std::error_code ec;
  if (std::filesystem::exists(dir / "config.toml", ec)) {
    o.models = runtime::base_models_of(Config::load_file((dir / "config.toml").string()), dir);
  }
  if (!a.json) o.progress = byte_progress("saving");
  const SaveReport r = save_image_file(dir, a.file, o);
  if (a.json) {
    std::cout << json{{"file", a.file}, {"bytes", r.file_bytes}, {"manifest", r.manifest}}.dump(2)
              << "\n";
    return;
  }
  std::cout << "saved " << dir.string() << " to " << a.file << ": " << r.manifest["members"].size()
            << " files, " << r.manifest["bytes"].get<std::uint64_t>() / 1024 << " KiB, "
            << r.file_bytes / 1024 << " KiB compressed\n";
  for (const std::string& s : r.secrets_left)
    std::cout << "  left out the secret " << s << " (--include-secrets keeps it)\n";
  for (const json& m : r.manifest["models"]) {
    std::cout << "  base model " << m["name"].get<std::string>() << ": "
              << (m.contains("member")
                      ? "in the file"
                      : "recorded by SHA-256, not in the file (--with-models puts it in)")
              << "\n";
  }
}

void verify(const ImageFileArgs& a) {
  const VerifyReport r = verify_image_file(a.file);
  if (a.json) {
    std::cout << json{{"file", a.file},
                      {"ok", true},
                      {"members", r.members},
                      {"bytes", r.bytes},
                      {"manifest", r.manifest}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << a.file << ": ok, " << r.members << " files (" << r.bytes / 1024
            << " KiB) match the manifest; image " << r.manifest.value("image_id", "") << ", format "
            << r.manifest.value("format_version", 0) << ", state.db schema "
            << r.manifest.value("schema_version", 0) << ", saved "
            << r.manifest.value("created", "") << " by a4ps "
            << r.manifest.value("a4ps_version", "") << "\n";
}

void restore(const ImageFileArgs& a) {
  RestoreOptions o;
  for (const std::string& d : a.model_dirs) o.model_dirs.emplace_back(d);
  o.strict = a.strict;
  if (!a.json) o.progress = byte_progress("restoring");
  const RestoreReport r = restore_image_file(a.file, a.dir, o);
  json models = json::array();
  for (const RestoredModel& m : r.models) {
    models.push_back({{"name", m.name}, {"status", m.status}, {"path", m.path.string()}});
  }
  if (a.json) {
    std::cout << json{{"dir", a.dir},
                      {"image_id", r.image_id},
                      {"members", r.verified.members},
                      {"models", models}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "restored " << a.file << " into " << a.dir << " (" << r.verified.members
            << " files, verified), as image " << r.image_id << "\n";
  for (const RestoredModel& m : r.models) {
    std::cout << "  base model " << m.name << ": " << m.status
              << (m.path.empty()
                      ? " (not found: give --model-dir DIR where it is, or point [models] " +
                            m.name + " at it)"
                      : " " + m.path.string())
              << "\n";
  }
}

void add_image_file_commands(CLI::App* image, const GlobalOptions& options) {
  auto a = std::make_shared<ImageFileArgs>();
  CLI::App* save_cmd = image->add_subcommand(
      "save",
      "Write the whole image to one file (a tar compressed with zstd, MANIFEST.json first): "
      "state.db (a consistent copy, also while a4ps serve or live holds the image), config, "
      "codex, tools, adapters, datasets, models, the index; the base models by SHA-256 (with "
      "--with-models, the files too)");
  save_cmd->add_option("file", a->file, "The file to write (e.g. atlas.a4ps)")->required();
  save_cmd->add_option("dir", a->dir, "The image (default: --image, $A4PS_IMAGE, ...)");
  save_cmd->add_flag("--with-models", a->with_models,
                     "Put the base models the config names in the file too");
  save_cmd->add_flag("--without-index", a->without_index,
                     "Leave out the vector index (rebuilt from state.db on use)");
  save_cmd->add_flag("--include-secrets", a->include_secrets,
                     "Keep the config's tokens and keys (left out by default)");
  save_cmd->add_flag("--json", a->json, "Print the manifest as JSON");
  save_cmd->callback([&options, a] {
    apply_verbosity(options);
    save(options, *a);
  });
  CLI::App* verify_cmd = image->add_subcommand(
      "verify",
      "Check an image file: its manifest and every file's size and SHA-256, without unpacking");
  verify_cmd->add_option("file", a->file, "The image file")->required();
  verify_cmd->add_flag("--json", a->json, "Print the result as JSON");
  verify_cmd->callback([&options, a] {
    apply_verbosity(options);
    verify(*a);
  });
  CLI::App* restore_cmd = image->add_subcommand(
      "restore",
      "Restore an image file into a new directory: everything is verified before anything is "
      "written; the copy gets a new image id and finds its base models by SHA-256");
  restore_cmd->add_option("file", a->file, "The image file")->required();
  restore_cmd->add_option("dir", a->dir, "Where the image goes (must not exist, or be empty)")
      ->required();
  restore_cmd->add_option("--model-dir", a->model_dirs,
                          "A folder to look in for the base models (repeatable)");
  restore_cmd->add_flag("--strict", a->strict, "Fail when a base model is not found");
  restore_cmd->add_flag("--json", a->json, "Print the result as JSON");
  restore_cmd->callback([&options, a] {
    apply_verbosity(options);
    restore(*a);
  });
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

  CLI::App* image = app.add_subcommand(
      "image", "Inspect and maintain an image; save it to one file, verify and restore that file");
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
  add_image_file_commands(image, options);
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
