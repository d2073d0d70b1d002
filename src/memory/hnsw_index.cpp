// The HNSW index: hnswlib's graph over the fp32 unit vectors, inner-product space. hnswlib
// 0.6 has no search filter, so a filtered search asks for more neighbours until enough pass.
// hnswlib's SSE path prefetches the entry one past the end of a neighbour list: harmless, but
// AddressSanitizer rightly reports it, so the sanitized build takes hnswlib's portable path.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <thread>

#include "core/error.h"
#include "memory/vector_index.h"
#include "memory/vector_index_impl.h"

namespace a4ps::memory {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

class HnswIndex final : public VectorIndex {
 public:
  HnswIndex(const IndexConfig& config, int dimension)
      : config_(config),
        dim_(static_cast<std::size_t>(dimension)),
        space_(std::make_unique<hnswlib::InnerProductSpace>(dim_)) {}

  void create(std::size_t capacity) {
    graph_ = std::make_unique<Graph>(space_.get(), std::max<std::size_t>(capacity, 1024),
                                     static_cast<std::size_t>(config_.hnsw_m),
                                     static_cast<std::size_t>(config_.hnsw_ef_construction));
  }

  void load(const std::filesystem::path& file) {
    try {
      // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialised (loadIndex only
      // adds to it), so the index is made empty, zeroed, then loaded.
      graph_ = std::make_unique<Graph>(space_.get());
      graph_->num_deleted_ = 0;
      graph_->loadIndex(file.string(), space_.get());
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kDataLoss,
                  file.string() + ": unreadable HNSW index (" + e.what() + ")");
    }
    if (graph_->data_size_ != space_->get_data_size()) {
      throw Error(
          ErrorCode::kDataLoss,
          file.string() + ": an HNSW index of another dimension than " + std::to_string(dim_));
    }
  }

  std::string kind() const override { return "hnsw"; }
  int dimension() const override { return static_cast<int>(dim_); }
  std::size_t size() const override { return graph_->cur_element_count - graph_->num_deleted_; }
  bool approximate_scores() const override { return false; }

  std::vector<std::int64_t> ids() const override {
    std::vector<std::int64_t> out;
    out.reserve(size());
    for (const auto& [label, internal] : graph_->label_lookup_) {
      if (!graph_->isMarkedDeleted(internal)) out.push_back(static_cast<std::int64_t>(label));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Inserts on every core: hnswlib's addPoint is safe for distinct labels.
  void add(std::span<const std::int64_t> ids, std::span<const float> vectors) override {
    const std::size_t needed = graph_->cur_element_count + ids.size();
    if (needed > graph_->max_elements_) {
      graph_->resizeIndex(std::max(needed, graph_->max_elements_ * 2));
    }
    const auto insert = [&](std::size_t first, std::size_t stride) {
      for (std::size_t i = first; i < ids.size(); i += stride) {
        graph_->addPoint(vectors.data() + i * dim_, static_cast<hnswlib::labeltype>(ids[i]));
      }
    };
    const std::size_t threads =
        ids.size() < 1000 ? 1 : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::jthread> workers;
    for (std::size_t t = 1; t < threads; ++t) workers.emplace_back(insert, t, threads);
    insert(0, threads);
  }

  void remove(std::int64_t id) override {
    const auto it = graph_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
    if (it == graph_->label_lookup_.end() || graph_->isMarkedDeleted(it->second)) return;
    graph_->markDelete(static_cast<hnswlib::labeltype>(id));
  }

  std::vector<Scored> search(std::span<const float> query, std::size_t n,
                             const KeepFn& keep) const override {
    std::vector<Scored> out;
    const std::size_t live = size();
    if (n == 0 || live == 0) return out;
    for (std::size_t want = std::min(n, live);; want = std::min(want * 4, live)) {
      graph_->setEf(std::max(want, static_cast<std::size_t>(config_.hnsw_ef_search)));
      auto found = graph_->searchKnn(query.data(), want);
      out.clear();
      while (!found.empty()) {  // worst first
        const auto [distance, label] = found.top();
        found.pop();
        const auto id = static_cast<std::int64_t>(label);
        if (!keep || keep(id)) out.push_back({id, 1.0f - distance});
      }
      std::reverse(out.begin(), out.end());
      if (out.size() >= n || want >= live) break;
    }
    if (out.size() > n) out.resize(n);
    return out;
  }

  void save(const std::filesystem::path& file) const override { graph_->saveIndex(file.string()); }

  std::size_t memory_bytes() const override {
    const std::size_t per_element =
        graph_->size_data_per_element_ + sizeof(void*) + sizeof(int) + sizeof(std::mutex);
    // Upper layers hold about 1/(M-1) of the elements, each with a link list.
    const std::size_t upper = graph_->cur_element_count / std::max<std::size_t>(graph_->M_ - 1, 1) *
                              graph_->size_links_per_element_;
    return graph_->max_elements_ * per_element + upper +
           graph_->label_lookup_.size() * (2 * sizeof(std::size_t) + 2 * sizeof(void*));
  }

  bool wants_rebuild() const override {
    return graph_->num_deleted_ > 1000 && graph_->num_deleted_ * 3 > graph_->cur_element_count;
  }

 private:
  IndexConfig config_;
  std::size_t dim_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace

std::unique_ptr<VectorIndex> make_hnsw_index(const IndexConfig& config, int dimension,
                                             std::size_t expected_size) {
  auto index = std::make_unique<HnswIndex>(config, dimension);
  index->create(expected_size + expected_size / 4);
  return index;
}

std::unique_ptr<VectorIndex> load_hnsw_index(const IndexConfig& config, int dimension,
                                             const std::filesystem::path& file) {
  auto index = std::make_unique<HnswIndex>(config, dimension);
  index->load(file);
  return index;
}

}  // namespace a4ps::memory
