#include "memory/vector_index.h"

#include "core/error.h"
#include "memory/vector_index_impl.h"

namespace a4ps::memory {

std::string resolved_index_kind(const IndexConfig& config, std::int64_t count) {
  if (config.kind == "auto") return count <= config.flat_max ? "flat" : "hnsw";
  if (config.kind == "ivf_pq" && count < config.ivf_min_train) return "flat";
  return config.kind;
}

void check_index_config(const IndexConfig& config) {
  const auto positive = [](const char* key, std::int64_t value, std::int64_t least) {
    if (value < least) {
      throw_invalid_argument(std::string("[memory] ") + key + " = " + std::to_string(value) +
                             ": expected at least " + std::to_string(least));
    }
  };
  if (config.kind != "auto" && config.kind != "flat" && config.kind != "hnsw" &&
      config.kind != "ivf_pq") {
    throw_invalid_argument("[memory] index = \"" + config.kind +
                           "\": expected auto, flat, hnsw or ivf_pq");
  }
  positive("flat_max", config.flat_max, 0);
  positive("hnsw_m", config.hnsw_m, 2);
  positive("hnsw_ef_construction", config.hnsw_ef_construction, 1);
  positive("hnsw_ef_search", config.hnsw_ef_search, 1);
  positive("ivf_nlist", config.ivf_nlist, 0);
  positive("ivf_nprobe", config.ivf_nprobe, 1);
  positive("pq_m", config.pq_m, 0);
  positive("ivf_min_train", config.ivf_min_train, 256);
}

std::unique_ptr<VectorIndex> make_vector_index(const std::string& kind, const IndexConfig& config,
                                               int dimension, std::size_t expected_size,
                                               std::span<const float> training_sample) {
  if (kind == "flat") return make_flat_index(dimension);
  if (kind == "hnsw") return make_hnsw_index(config, dimension, expected_size);
  if (kind == "ivf_pq") {
    const std::size_t m = sub_quantizers(config, static_cast<std::size_t>(dimension));
    if (static_cast<std::size_t>(dimension) % m != 0) {
      throw_invalid_argument("[memory] pq_m = " + std::to_string(m) +
                             " does not divide the embedding dimension " +
                             std::to_string(dimension));
    }
    return make_ivf_pq_index(config, dimension, expected_size, training_sample);
  }
  throw_invalid_argument("vector index kind \"" + kind + "\": expected flat, hnsw or ivf_pq");
}

std::unique_ptr<VectorIndex> load_vector_index(const std::string& kind, const IndexConfig& config,
                                               int dimension, const std::filesystem::path& file) {
  if (kind == "flat") return load_flat_index(dimension, file);
  if (kind == "hnsw") return load_hnsw_index(config, dimension, file);
  if (kind == "ivf_pq") return load_ivf_pq_index(config, dimension, file);
  throw Error(ErrorCode::kDataLoss, file.string() + ": unknown vector index kind \"" + kind + "\"");
}

}  // namespace a4ps::memory
