// memory/vector_cache: the vector leg of one embedder's memories. It owns the vector index (a
// cache of state.db's embeddings), the namespace of every indexed memory, and the snapshot:
// at open it loads the snapshot, replays what state.db gained or lost since (rows newer than
// the snapshot, forgotten rows), or rebuilds from state.db with progress when the snapshot is
// missing, corrupt, or made for another model, kind or parameters. Approximate scores are
// re-ranked with the fp32 vectors stored in state.db.
//
// Not thread-safe: MemoryStore calls it under its mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "memory/vector_index.h"

namespace a4ps::sql {
class Database;
}

namespace a4ps::memory {

using Progress = std::function<void(std::int64_t done, std::int64_t total)>;

// An embedding as stored in state.db: the floats' bytes, native order.
std::string vector_to_bytes(const std::vector<float>& v);
std::vector<float> vector_from_bytes(const std::string& bytes);

struct VectorCacheStats {
  std::string kind;          // the index serving now ("none" before the first vector)
  std::int64_t vectors = 0;  // in the index itself
  std::size_t index_bytes = 0;
  std::string loaded;  // how the index came to be: "snapshot", "snapshot + replay", "rebuilt: why"
};

class VectorCache {
 public:
  // `dir` holds the snapshot; empty keeps the index in memory only. `progress` reports a
  // rebuild. Throws kDataLoss when state.db holds two dimensions for the embedder.
  VectorCache(sql::Database& db, std::string embedder, IndexConfig config,
              std::filesystem::path dir, Progress progress);
  ~VectorCache();

  int dimension() const { return dimension_; }
  std::int64_t size() const { return static_cast<std::int64_t>(live_); }

  // Indexes committed memories (ids ascending, above every indexed id).
  void add(std::span<const std::int64_t> ids, const std::vector<std::string>& namespaces,
           const std::vector<std::vector<float>>& vectors);
  void remove(std::int64_t id);
  // The best n (id, cosine) under the namespace prefix, exact scores.
  std::vector<std::pair<std::int64_t, double>> search(const std::vector<float>& query,
                                                      const std::string& prefix, int n);
  // Reads state.db again and rebuilds the index, with progress (after a reindex).
  void reload(const std::string& why);
  // Writes the snapshot when the index changed since the last one. A failure to write is
  // logged, not thrown: the index is a cache and the next open rebuilds it.
  void snapshot_if_changed();
  VectorCacheStats stats() const;

 private:
  struct Entry {
    std::int64_t id;
    std::uint32_t tag;  // index into namespaces_, or kGone once forgotten
  };
  static constexpr std::uint32_t kGone = UINT32_MAX;

  void load_entries();
  void open_index();
  std::uint32_t tag_of(const std::string& ns);
  Entry* find_entry(std::int64_t id);
  void replay(std::int64_t covered_id);
  void rebuild(const std::string& why);
  void add_from_db(const std::vector<std::int64_t>& ids);
  std::vector<float> stored_vector(std::int64_t id);
  std::vector<std::pair<std::int64_t, double>> exact_scan(const std::vector<float>& query,
                                                          const std::vector<char>& wanted, int n);
  std::string wanted_kind() const;

  sql::Database& db_;
  const std::string embedder_;
  const IndexConfig config_;
  const std::filesystem::path dir_;
  const Progress progress_;
  int dimension_ = 0;
  std::unique_ptr<VectorIndex> index_;
  std::vector<Entry> entries_;  // every indexed memory, ascending ids (forgotten: kGone)
  std::size_t live_ = 0;
  std::vector<std::string> namespaces_;
  std::vector<std::int64_t> namespace_counts_;  // live entries per tag
  bool changed_ = false;                        // since the last snapshot
  std::string loaded_;
};

}  // namespace a4ps::memory
