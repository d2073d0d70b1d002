// The small-footprint index: FAISS IVF-PQ with inner product over the unit vectors. PQ codes
// are pq_m bytes per vector; their scores are approximate and the store re-ranks.
#include <dlfcn.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "memory/vector_index.h"
#include "memory/vector_index_impl.h"

namespace a4ps::memory {
namespace {

using FaissId = faiss::Index::idx_t;

// FAISS runs k-means through BLAS inside its own OpenMP loops; an OpenBLAS that also spawns
// threads fights them for the cores (on 2 cores, half of a rebuild went to spinning). Other
// BLAS builds have no such knob and need none.
void single_threaded_blas() {
  using SetThreads = void (*)(int);
  static const auto set =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set != nullptr) set(1);
}

// FAISS asks a selector for each id it scans.
struct KeepSelector final : faiss::IDSelector {
  explicit KeepSelector(const KeepFn& keep) : keep_(keep) {}
  bool is_member(idx_t id) const override { return keep_(id); }
  const KeepFn& keep_;
};

class IvfPqIndex final : public VectorIndex {
 public:
  IvfPqIndex(const IndexConfig& config, int dimension)
      : config_(config), dim_(static_cast<std::size_t>(dimension)) {}

  void create(std::span<const float> training_sample, std::size_t expected_size) {
    const std::size_t n = training_sample.size() / dim_;
    const std::size_t nlist = nlist_for(n, std::max(n, expected_size));
    const std::size_t m = sub_quantizers(config_, dim_);
    quantizer_ = std::make_unique<faiss::IndexFlatIP>(static_cast<FaissId>(dim_));
    index_ = std::make_unique<faiss::IndexIVFPQ>(quantizer_.get(), dim_, nlist, m, 8,
                                                 faiss::METRIC_INNER_PRODUCT);
    // Training dominates a rebuild. 64 points per centroid and 10 k-means iterations, for the
    // coarse lists and the PQ codebooks alike, cost a tenth of FAISS's defaults (256, 25) and,
    // with re-ranking, lose no measurable recall (bench/memory_index.cpp).
    index_->cp.max_points_per_centroid = 64;
    index_->cp.niter = 10;
    index_->pq.cp.max_points_per_centroid = 64;
    index_->pq.cp.niter = 10;
    single_threaded_blas();
    try {
      index_->train(static_cast<FaissId>(n), training_sample.data());
    } catch (const faiss::FaissException& e) {
      throw Error(ErrorCode::kFailedPrecondition,
                  std::string("IVF-PQ training failed: ") + e.what());
    }
  }

  void load(const std::filesystem::path& file) {
    std::unique_ptr<faiss::Index> read;
    try {
      read.reset(faiss::read_index(file.c_str()));
    } catch (const faiss::FaissException& e) {
      throw Error(ErrorCode::kDataLoss,
                  file.string() + ": unreadable IVF-PQ index (" + e.what() + ")");
    }
    auto* ivf = dynamic_cast<faiss::IndexIVFPQ*>(read.get());
    if (ivf == nullptr || static_cast<std::size_t>(ivf->d) != dim_) {
      throw Error(ErrorCode::kDataLoss,
                  file.string() + ": not an IVF-PQ index of dimension " + std::to_string(dim_));
    }
    read.release();
    index_.reset(ivf);
    index_->own_fields = true;  // read_index made the quantizer; the index frees it
  }

  std::string kind() const override { return "ivf_pq"; }
  int dimension() const override { return static_cast<int>(dim_); }
  std::size_t size() const override { return static_cast<std::size_t>(index_->ntotal); }
  bool approximate_scores() const override { return true; }

  std::vector<std::int64_t> ids() const override {
    std::vector<std::int64_t> out;
    out.reserve(size());
    const faiss::InvertedLists* lists = index_->invlists;
    for (std::size_t list = 0; list < lists->nlist; ++list) {
      const std::size_t count = lists->list_size(list);
      const FaissId* list_ids = lists->get_ids(list);
      out.insert(out.end(), list_ids, list_ids + count);
      lists->release_ids(list, list_ids);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void add(std::span<const std::int64_t> ids, std::span<const float> vectors) override {
    index_->add_with_ids(static_cast<FaissId>(ids.size()), vectors.data(), ids.data());
  }

  void remove(std::int64_t id) override {
    const faiss::IDSelectorBatch one(1, &id);
    index_->remove_ids(one);
  }

  std::vector<Scored> search(std::span<const float> query, std::size_t n,
                             const KeepFn& keep) const override {
    std::vector<Scored> out;
    if (n == 0 || index_->ntotal == 0) return out;
    std::vector<float> scores(n);
    std::vector<FaissId> labels(n);
    faiss::SearchParametersIVF params;
    params.nprobe =
        std::min<std::size_t>(static_cast<std::size_t>(config_.ivf_nprobe), index_->nlist);
    KeepSelector selector(keep);
    if (keep) params.sel = &selector;
    index_->search(1, query.data(), static_cast<FaissId>(n), scores.data(), labels.data(), &params);
    for (std::size_t i = 0; i < n; ++i) {
      if (labels[i] >= 0) out.push_back({labels[i], scores[i]});
    }
    return out;
  }

  void save(const std::filesystem::path& file) const override {
    faiss::write_index(index_.get(), file.c_str());
  }

  std::size_t memory_bytes() const override {
    const std::size_t codes =
        static_cast<std::size_t>(index_->ntotal) * (index_->code_size + sizeof(FaissId));
    const std::size_t centroids = index_->nlist * dim_ * sizeof(float);
    const std::size_t codebooks = index_->pq.centroids.size() * sizeof(float);
    return codes + centroids + codebooks;
  }

 private:
  std::size_t nlist_for(std::size_t training_size, std::size_t expected_size) const {
    if (config_.ivf_nlist > 0) return static_cast<std::size_t>(config_.ivf_nlist);
    const auto guess = static_cast<std::size_t>(std::sqrt(static_cast<double>(expected_size)));
    // FAISS wants about 39 training points per list.
    return std::clamp<std::size_t>(guess, 1, std::max<std::size_t>(training_size / 39, 1));
  }

  IndexConfig config_;
  std::size_t dim_;
  std::unique_ptr<faiss::IndexFlatIP> quantizer_;  // owned here until load() hands it over
  std::unique_ptr<faiss::IndexIVFPQ> index_;
};

}  // namespace

std::size_t sub_quantizers(const IndexConfig& config, std::size_t dimension) {
  if (config.pq_m > 0) return static_cast<std::size_t>(config.pq_m);
  // At least 8 bytes a vector: fewer ranks too coarsely for the re-ranking to recover.
  std::size_t m = std::min<std::size_t>(std::max<std::size_t>(dimension / 16, 8), dimension);
  while (dimension % m != 0) --m;
  return m;
}

std::unique_ptr<VectorIndex> make_ivf_pq_index(const IndexConfig& config, int dimension,
                                               std::size_t expected_size,
                                               std::span<const float> training_sample) {
  auto index = std::make_unique<IvfPqIndex>(config, dimension);
  index->create(training_sample, expected_size);
  return index;
}

std::unique_ptr<VectorIndex> load_ivf_pq_index(const IndexConfig& config, int dimension,
                                               const std::filesystem::path& file) {
  auto index = std::make_unique<IvfPqIndex>(config, dimension);
  index->load(file);
  return index;
}

}  // namespace a4ps::memory
