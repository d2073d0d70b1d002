// memory/vector_index: the vector leg's index, a cache rebuilt from state.db whenever in doubt.
// Three kinds behind one interface:
//  * flat: an exact scan over int8-quantised copies of the unit vectors (a quarter of fp32's
//    RAM and memory traffic); its scores are approximate, so the store re-ranks its candidates
//    with the fp32 vectors from state.db, which makes the result exact in practice.
//  * hnsw: hnswlib's HNSW graph over fp32 vectors (inner product); scores are exact, the
//    neighbour set approximate.
//  * ivf_pq: FAISS IVF-PQ, the blueprint's small-footprint index (tens of bytes per vector);
//    scores are approximate and re-ranked like flat's.
// All take unit vectors and rank by inner product (cosine). Not thread-safe: the owner locks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace a4ps::memory {

// [memory] index and its parameters (docs/config.md).
struct IndexConfig {
  std::string kind = "auto";            // auto | flat | hnsw | ivf_pq
  std::int64_t flat_max = 200'000;      // auto: exact up to this many vectors, then hnsw
  int hnsw_m = 16;                      // graph degree
  int hnsw_ef_construction = 200;       // build-time beam
  int hnsw_ef_search = 128;             // query-time beam (raised to k when smaller)
  int ivf_nlist = 0;                    // inverted lists; 0: about sqrt(n)
  int ivf_nprobe = 32;                  // lists visited per query
  int pq_m = 0;                         // PQ sub-quantisers; 0: dimension / 16
  std::int64_t ivf_min_train = 10'000;  // ivf_pq below this many vectors: flat serves
};

struct Scored {
  std::int64_t id = 0;
  float score = 0;  // inner product with the query (approximate where approximate_scores())
};

// Which ids a search may return; empty means all.
using KeepFn = std::function<bool(std::int64_t id)>;

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  virtual std::string kind() const = 0;
  virtual int dimension() const = 0;
  virtual std::size_t size() const = 0;  // live vectors
  // Whether scores are approximate (the store then re-ranks with the stored fp32 vectors).
  virtual bool approximate_scores() const = 0;
  // Live ids, ascending.
  virtual std::vector<std::int64_t> ids() const = 0;
  // Adds `count` unit vectors of dimension() floats each; ids are new to the index.
  virtual void add(std::span<const std::int64_t> ids, std::span<const float> vectors) = 0;
  // Removes an id; unknown ids are ignored.
  virtual void remove(std::int64_t id) = 0;
  // Up to n ids that `keep` accepts, best first.
  virtual std::vector<Scored> search(std::span<const float> query, std::size_t n,
                                     const KeepFn& keep) const = 0;
  // Writes the index to `file` (the caller makes it atomic).
  virtual void save(const std::filesystem::path& file) const = 0;
  // RAM the index holds, in bytes.
  virtual std::size_t memory_bytes() const = 0;
  // True when the index has decayed (HNSW tombstones) and a rebuild would pay off.
  virtual bool wants_rebuild() const { return false; }
};

// A new, empty index of `kind` (flat, hnsw or ivf_pq). ivf_pq must be trained before vectors
// are added: pass a training sample (row-major unit vectors); it may be empty for the others.
std::unique_ptr<VectorIndex> make_vector_index(const std::string& kind, const IndexConfig& config,
                                               int dimension, std::size_t expected_size,
                                               std::span<const float> training_sample);
// Reads an index `kind` written by save(). Throws a4ps::Error kDataLoss when it is unreadable.
std::unique_ptr<VectorIndex> load_vector_index(const std::string& kind, const IndexConfig& config,
                                               int dimension, const std::filesystem::path& file);

// The kind `config` asks for with `count` vectors ("auto" resolved; ivf_pq with too few vectors
// to train is flat until it has them).
std::string resolved_index_kind(const IndexConfig& config, std::int64_t count);

// Throws kInvalidArgument naming the key when a parameter is out of range.
void check_index_config(const IndexConfig& config);

}  // namespace a4ps::memory
