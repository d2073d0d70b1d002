// image/image: the Living Image on disk, one directory that holds the whole persistent self
// (docs/formats/image.md). Creating one lays out its folders, manifest, config and codex and
// an empty state.db at the current schema; opening one checks its format version, takes the
// single-writer lock and migrates state.db forward.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace a4ps {

inline constexpr int kImageFormatVersion = 1;

// Where an image is when none is named: $A4PS_IMAGE, else ~/.local/share/a4ps/image
// ($XDG_DATA_HOME honoured).
std::filesystem::path default_image_dir();

// The image's id from its image.toml, without opening it ("" for an image made before ids).
// Throws kDataLoss for an unreadable manifest.
std::string read_image_id(const std::filesystem::path& dir);
// Gives the image a new id (a restored copy is another image) and returns it.
std::string give_new_image_id(const std::filesystem::path& dir);

class Image {
 public:
  // Creates a new image in `dir` (which must not exist or be empty) with the default
  // config.toml and `codex_text` as its persona codex. Throws a4ps::Error kFailedPrecondition
  // if `dir` holds anything, kUnavailable if it cannot be written.
  static void create(const std::filesystem::path& dir, const std::string& codex_text);

  // Opens `dir` for writing: checks image.toml's format version, takes the lock (one writer
  // process per image) and migrates state.db. Throws kNotFound (no image there),
  // kFailedPrecondition (locked by a running process, or a stale lock: the message names the
  // pid and the command that clears it; or a newer format), kDataLoss (a manifest or
  // database that cannot be read).
  static std::unique_ptr<Image> open(const std::filesystem::path& dir);

  // Removes a stale lock. Throws kFailedPrecondition if its process is still running.
  static void clear_stale_lock(const std::filesystem::path& dir);

  ~Image();  // releases the lock
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_path() const { return dir_ / "config.toml"; }
  std::filesystem::path codex_path() const { return dir_ / "codex" / "persona_codex.toml"; }
  std::filesystem::path state_db_path() const { return dir_ / "state.db"; }
  int schema_version() const { return schema_version_; }
  const std::string& id() const { return id_; }  // image.toml's id, e.g. "img-3f9a0c…"

 private:
  explicit Image(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  int schema_version_ = 0;
  std::string id_;
  bool locked_ = false;
};

}  // namespace a4ps
