// memory/vector_index_impl: the constructors of each index kind, for vector_index.cpp.
#pragma once

#include "memory/vector_index.h"

namespace a4ps::memory {

std::unique_ptr<VectorIndex> make_flat_index(int dimension);
std::unique_ptr<VectorIndex> load_flat_index(int dimension, const std::filesystem::path& file);
std::unique_ptr<VectorIndex> make_hnsw_index(const IndexConfig& config, int dimension,
                                             std::size_t expected_size);
std::unique_ptr<VectorIndex> load_hnsw_index(const IndexConfig& config, int dimension,
                                             const std::filesystem::path& file);
std::unique_ptr<VectorIndex> make_ivf_pq_index(const IndexConfig& config, int dimension,
                                               std::size_t expected_size,
                                               std::span<const float> training_sample);
std::unique_ptr<VectorIndex> load_ivf_pq_index(const IndexConfig& config, int dimension,
                                               const std::filesystem::path& file);
// PQ sub-quantisers for `dimension`: pq_m, or the largest divisor of it up to
// max(dimension / 16, 8).
std::size_t sub_quantizers(const IndexConfig& config, std::size_t dimension);

}  // namespace a4ps::memory
