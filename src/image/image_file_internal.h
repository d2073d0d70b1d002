// Shared by image_file.cpp (save) and image_restore.cpp (verify, restore): member paths, the
// manifest's members, and the error that names the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace a4ps::image_file {

inline constexpr const char* kManifestName = "MANIFEST.json";
inline constexpr std::uint64_t kMaxManifestBytes = 64ULL << 20;
inline constexpr const char* kBaseModelsFolder = "base-models";

struct MemberFact {
  std::uint64_t size = 0;
  std::string sha256;
};

// "" when `path` is a safe member path (relative, '/'-separated, no empty, "." or ".."
// component, no backslash or control character); otherwise why not.
std::string unsafe_path_reason(const std::string& path);

// The manifest's members by path. Throws kDataLoss (naming `file`) for a member listed twice,
// at an unsafe path, or without its size or SHA-256.
std::map<std::string, MemberFact> manifest_members(const nlohmann::json& manifest,
                                                   const std::string& file);

// One line of a TOML file as the line editor sees it: the table it is in ("[models]"), and for
// a `key = value` line its key and value (trimmed); key is "" for any other line.
struct TomlLine {
  std::string section;
  std::string key;
  std::string value;
};

// `text` with each line that `edit` answers replaced by that answer (comments, order and every
// other line kept as they are): the image file's edits of config.toml.
std::string edit_toml_lines(const std::string& text,
                            const std::function<std::optional<std::string>(const TomlLine&)>& edit);

}  // namespace a4ps::image_file
