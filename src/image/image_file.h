// image/image_file: the whole image in one file (docs/formats/image-file.md). save writes a
// deterministic tar compressed with zstd (libarchive): MANIFEST.json first, then every member
// sorted by path, each with its size and SHA-256 in the manifest; state.db is a consistent copy
// taken with VACUUM INTO and checked, so an image held by `a4ps serve` or `a4ps live` can be
// saved without its lock. verify checks the manifest and every member without unpacking to
// disk. restore verifies everything first, unpacks into a temporary sibling of the target,
// gives the copy a new id and renames it into place; the target is never an existing image.
//
// Models: the image's own files (adapters/, models/) always travel; the base models the config
// names travel only when asked, and are recorded in the manifest by SHA-256, size and
// architecture either way, so that restore can find them on the new machine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace a4ps {

inline constexpr int kImageFileFormatVersion = 1;

// A base model the config names, as the caller found it (image/ reads no GGUF).
struct BaseModel {
  std::string name;            // its [models] key, e.g. "brick"
  std::filesystem::path path;  // where it is now (absolute)
  std::string sha256;
  std::uint64_t size = 0;
  std::string architecture;  // general.architecture
};

// Bytes done of bytes in all, while a save or a restore writes.
using FileProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct SaveOptions {
  bool with_models = false;      // the base models travel too (base-models/NAME/FILE)
  bool without_index = false;    // leave out index/ (derived from state.db; rebuilt on use)
  bool include_secrets = false;  // keep the config's secrets (tokens, keys)
  std::vector<BaseModel> models;
  std::string a4ps_version;
  FileProgress progress;
};

struct SaveReport {
  nlohmann::json manifest;
  std::uint64_t file_bytes = 0;           // of FILE, compressed
  std::vector<std::string> secrets_left;  // config keys left out, e.g. "[server] token"
};

// Saves the image at `image_dir` to `file` (written as FILE.tmp, fsynced, renamed). Throws
// kNotFound (no image), kDataLoss (state.db's copy fails its integrity check, or a file changed
// while it was saved), kUnavailable or kResourceExhausted (cannot write: no FILE is left).
SaveReport save_image_file(const std::filesystem::path& image_dir,
                           const std::filesystem::path& file, const SaveOptions& options);

struct VerifyReport {
  nlohmann::json manifest;
  std::size_t members = 0;
  std::uint64_t bytes = 0;  // uncompressed, over all members
};

// Checks `file` against its manifest: MANIFEST.json first, every member a regular file at a
// safe relative path, listed once, of its size and SHA-256, none missing. Throws kDataLoss
// naming the first member that fails and why, kFailedPrecondition for a newer format,
// kNotFound for no file.
VerifyReport verify_image_file(const std::filesystem::path& file);

struct RestoreOptions {
  std::vector<std::filesystem::path> model_dirs;  // where to look for the base models
  bool strict = false;                            // a base model not found fails the restore
  FileProgress progress;
};

struct RestoredModel {
  std::string name;
  std::string status;  // "found" (at its recorded path), "moved" (found elsewhere), "unpacked"
                       // (it travelled in the file), "unavailable"
  std::filesystem::path path;  // where it is now ("" when unavailable)
};

struct RestoreReport {
  std::string image_id;  // the restored image's new id
  VerifyReport verified;
  std::vector<RestoredModel> models;
};

// Restores `file` into `dir`, which must not exist (or be an empty directory). Writes nothing
// unless the whole file verifies. The config's [models] entries are pointed at the base models
// where they were found. Throws as verify_image_file, kFailedPrecondition when `dir` holds
// anything, or when `strict` and a base model was not found.
RestoreReport restore_image_file(const std::filesystem::path& file,
                                 const std::filesystem::path& dir, const RestoreOptions& options);

// The config's text with its secrets left out (lines of [server] token and of keys named
// token, api_key, key, password or secret), and the keys left out.
std::string config_without_secrets(const std::string& text, std::vector<std::string>* left_out);

}  // namespace a4ps
