// Shared by image_file.cpp (save) and image_restore.cpp (verify, restore): member paths, the
// manifest's members, and the error that names the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
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

}  // namespace a4ps::image_file
