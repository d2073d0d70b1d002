// memory/memory_store: episodic memory in state.db. SQLite is the truth: each memory is a row
// (namespace path, source, text, metadata, importance, timestamps, a deleted flag), FTS5 keeps a
// keyword index of the live rows through triggers, and each memory's embedding is stored beside
// it per embedding model. The vector index is a cache of those embeddings (vector_cache.h):
// flat, HNSW or IVF-PQ, snapshotted under the image's index/ folder. Search is hybrid: BM25
// top-N and vector top-N fused by reciprocal rank fusion (k = 60), optionally weighted by
// recency and importance, filtered by namespace prefix and metadata. Every hit carries its
// score parts and provenance.
//
// Thread-safe: one mutex guards the connection and the index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "memory/vector_cache.h"
#include "memory/vector_index.h"

namespace a4ps::sql {
class Database;
}

namespace a4ps::memory {

// Turns text into a vector. `name` identifies the model in stored embeddings ("lexical" for
// the built-in one); a store refuses vectors of another dimension than the name's first.
struct Embedder {
  std::string name;
  std::function<std::vector<float>(const std::string& text)> embed_document;
  std::function<std::vector<float>(const std::string& text)> embed_query;
  // Names the same embedder was stored under before (a model once known by its path): their
  // vectors are taken over when the store has none under `name`.
  std::vector<std::string> former_names;
};

// The built-in lexical embedder (lexical_embedder.h).
Embedder lexical_embedder();

inline constexpr size_t kMaxMemoryBytes = 64 * 1024;  // one memory's text; import chunks more

struct NewMemory {
  std::string text;
  std::string namespace_path;        // "docs/atlas", "episodes/t-1"; "" is the root
  std::string source_kind = "note";  // note, document, web, episode
  std::string source;                // file, URL or run it came from
  nlohmann::json metadata = nlohmann::json::object();
  double importance = 0.5;  // 0..1
};

struct AddResult {
  std::int64_t id = 0;
  bool duplicate = false;  // the same text was already live in the namespace: nothing added
};

struct SearchOptions {
  int k = 5;
  int candidates = 50;           // N of each leg before fusion
  std::string namespace_prefix;  // only memories under this path
  double recency_weight = 0;     // adds weight · 1/(1 + age in days) to the fused score
  double importance_weight = 0;  // adds weight · importance
  // metadata key -> required value (equality on the JSON value)
  std::map<std::string, nlohmann::json> metadata_equals;
};

struct Hit {
  std::int64_t id = 0;
  std::string text;
  std::string namespace_path;
  std::string source_kind;
  std::string source;
  nlohmann::json metadata;
  double score = 0;                  // the fused score
  std::optional<int> keyword_rank;   // 1-based rank in the BM25 leg
  std::optional<int> vector_rank;    // 1-based rank in the vector leg
  std::optional<double> bm25;        // SQLite's bm25() (lower is better)
  std::optional<double> similarity;  // cosine similarity
};

struct MemoryStats {
  std::int64_t live = 0;
  std::int64_t forgotten = 0;
  std::int64_t embedded = 0;  // live memories with a vector of the store's embedder
  std::string embedder;
  int dimension = 0;
  VectorCacheStats index;
};

struct MemoryStoreOptions {
  IndexConfig index;
  std::filesystem::path index_dir;  // the snapshot's folder; empty keeps the index in RAM only
  Progress rebuild_progress;        // called while the index is rebuilt at open or reindex
};

// The JSON shapes of a hit and of the stats, shared by `a4ps memory --json` and the HTTP API.
nlohmann::json hit_json(const Hit& h);
nlohmann::json stats_json(const MemoryStats& s);

class MemoryStore {
 public:
  // Opens state.db (migrated to the current schema by the caller) and loads the vectors of
  // `embedder` into memory. Throws a4ps::Error kFailedPrecondition when stored vectors of that
  // embedder have another dimension than it now produces (the model changed: reindex).
  static std::unique_ptr<MemoryStore> open(const std::filesystem::path& state_db, Embedder embedder,
                                           MemoryStoreOptions options = {});
  // Writes the index snapshot if it changed.
  ~MemoryStore();

  // Stores the memory and its embedding in one transaction. Throws kInvalidArgument for empty
  // text, text over kMaxMemoryBytes, importance outside 0..1 or a malformed namespace.
  AddResult add(const NewMemory& memory);
  // Stores every memory in one transaction (all or none; nothing half-written), embedding them
  // first; duplicates of live memories, or of each other, are not stored twice.
  // `progress(done, total)` is called as they are embedded.
  std::vector<AddResult> add_many(const std::vector<NewMemory>& memories,
                                  const std::function<void(size_t, size_t)>& progress = {});
  std::vector<Hit> search(const std::string& query, const SearchOptions& options = {});
  // Marks a memory deleted (it leaves both indexes). Throws kNotFound for an unknown or
  // already forgotten id.
  void forget(std::int64_t id);
  MemoryStats stats();
  // Embeds again every live memory with the store's embedder (after a model change).
  // `progress(done, total)` is called as it goes.
  void reindex(const std::function<void(std::int64_t, std::int64_t)>& progress = {});

 private:
  MemoryStore(std::unique_ptr<sql::Database> db, Embedder embedder);
  // The embedder's unit vector for `text`; throws kFailedPrecondition on a dimension change.
  std::vector<float> embed_checked(const std::string& text, bool query);
  // Both legs' candidates fused by RRF, best first, their rows not yet read; requires mu_.
  std::vector<Hit> fuse(const std::string& query, const std::vector<float>& q,
                        const SearchOptions& options);
  // Reads h's row and applies the filters and weights; false when it is gone or filtered out.
  bool fill(Hit& h, const SearchOptions& options, std::int64_t now);
  // (id, bm25) of the best `n` live memories under `prefix`; requires mu_.
  // Says in the log how many live memories lack a vector of this embedder.
  void warn_if_partly_embedded();
  std::vector<std::pair<std::int64_t, double>> keyword_leg(const std::string& query,
                                                           const std::string& prefix, int n);

  const Embedder embedder_;
  std::mutex mu_;
  std::unique_ptr<sql::Database> db_;     // guarded by mu_
  std::unique_ptr<VectorCache> vectors_;  // guarded by mu_
};

}  // namespace a4ps::memory
