// memory/index_snapshot: the vector index on disk (docs/formats/index-snapshot.md). A payload
// file written by the index itself, and manifest.json naming it with the embedder, dimension,
// kind, parameters, the highest memory id it covers, its size and CRC-32. Both are written to
// temporary names, fsynced and renamed, the manifest last, so a crash leaves the old snapshot or
// the new one, never half of one. A flock on index/lock keeps two processes from interleaving.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "memory/vector_index.h"

namespace a4ps::memory {

inline constexpr int kIndexSnapshotFormat = 1;

struct SnapshotInfo {
  std::string kind;
  std::string embedder;
  int dimension = 0;
  std::int64_t count = 0;
  std::int64_t covered_id = 0;  // the highest memory id the snapshot includes
  nlohmann::json params = nlohmann::json::object();
};

// The parameters that shape an index of `kind` (a snapshot with others is rebuilt).
nlohmann::json index_params(const std::string& kind, const IndexConfig& config);

// Writes `index` as the snapshot of `dir` (created if needed).
void write_snapshot(const std::filesystem::path& dir, const VectorIndex& index,
                    const SnapshotInfo& info);

struct LoadedSnapshot {
  std::unique_ptr<VectorIndex> index;  // null when there is none that fits
  SnapshotInfo info;
  std::string why_not;  // when index is null: why, in words ("none yet", "CRC mismatch", ...)
};

// Reads the snapshot of `dir` if it was made for `wanted` (kind, embedder, dimension, params);
// never throws for a missing, stale or corrupt snapshot: it says why in why_not.
LoadedSnapshot read_snapshot(const std::filesystem::path& dir, const SnapshotInfo& wanted,
                             const IndexConfig& config);

// Removes the snapshot (after a reindex its vectors are stale).
void remove_snapshot(const std::filesystem::path& dir);

}  // namespace a4ps::memory
