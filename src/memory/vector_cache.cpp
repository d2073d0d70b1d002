#include "memory/vector_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "image/sqlite.h"
#include "memory/index_snapshot.h"

namespace a4ps::memory {
namespace {

constexpr std::size_t kBatch = 4096;
constexpr std::size_t kTrainingSample = 64 * 1024;

bool under(const std::string& ns, const std::string& prefix) {
  return prefix.empty() || ns == prefix ||
         (ns.size() > prefix.size() && ns.compare(0, prefix.size(), prefix) == 0 &&
          ns[prefix.size()] == '/');
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) sum += a[i] * b[i];
  return static_cast<double>(sum);
}

bool better(const std::pair<std::int64_t, double>& a, const std::pair<std::int64_t, double>& b) {
  return a.second != b.second ? a.second > b.second : a.first < b.first;
}

}  // namespace

std::string vector_to_bytes(const std::vector<float>& v) {
  std::string bytes(v.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

std::vector<float> vector_from_bytes(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

VectorCache::VectorCache(sql::Database& db, std::string embedder, IndexConfig config,
                         std::filesystem::path dir, Progress progress)
    : db_(db),
      embedder_(std::move(embedder)),
      config_(std::move(config)),
      dir_(std::move(dir)),
      progress_(std::move(progress)) {
  check_index_config(config_);
  load_entries();
  open_index();
}

VectorCache::~VectorCache() = default;

std::string VectorCache::wanted_kind() const {
  return resolved_index_kind(config_, static_cast<std::int64_t>(live_));
}

std::uint32_t VectorCache::tag_of(const std::string& ns) {
  const auto it = std::find(namespaces_.begin(), namespaces_.end(), ns);
  if (it != namespaces_.end()) return static_cast<std::uint32_t>(it - namespaces_.begin());
  namespaces_.push_back(ns);
  namespace_counts_.push_back(0);
  return static_cast<std::uint32_t>(namespaces_.size() - 1);
}

VectorCache::Entry* VectorCache::find_entry(std::int64_t id) {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                                   [](const Entry& e, std::int64_t v) { return e.id < v; });
  return it != entries_.end() && it->id == id ? &*it : nullptr;
}

void VectorCache::load_entries() {
  entries_.clear();
  namespaces_.clear();
  namespace_counts_.clear();
  live_ = 0;
  dimension_ = 0;
  auto dims = db_.prepare(
      "SELECT min(e.dimension), max(e.dimension) FROM memory_embeddings e JOIN memories m ON m.id "
      "= e.memory_id WHERE e.model = ? AND m.deleted = 0");
  dims.bind(1, embedder_);
  if (dims.step() && !dims.is_null(0)) {
    if (dims.int64(0) != dims.int64(1)) {
      throw Error(ErrorCode::kDataLoss,
                  "state.db: embeddings of " + embedder_ + " have two dimensions (" +
                      std::to_string(dims.int64(0)) + " and " + std::to_string(dims.int64(1)) +
                      "); run a4ps memory reindex");
    }
    dimension_ = static_cast<int>(dims.int64(0));
  }
  auto q = db_.prepare(
      "SELECT e.memory_id, m.namespace FROM memory_embeddings e JOIN memories m ON m.id = "
      "e.memory_id WHERE e.model = ? AND m.deleted = 0 ORDER BY e.memory_id");
  q.bind(1, embedder_);
  while (q.step()) {
    const std::uint32_t tag = tag_of(q.text(1));
    entries_.push_back({q.int64(0), tag});
    ++namespace_counts_[tag];
    ++live_;
  }
}

void VectorCache::open_index() {
  if (dimension_ == 0) {
    loaded_ = "empty";
    return;
  }
  if (dir_.empty()) {
    rebuild("the index is kept in memory only");
    return;
  }
  const std::string kind = wanted_kind();
  LoadedSnapshot snap = read_snapshot(
      dir_, {kind, embedder_, dimension_, 0, 0, index_params(kind, config_)}, config_);
  if (!snap.index) {
    rebuild(snap.why_not);
    return;
  }
  index_ = std::move(snap.index);
  replay(snap.info.covered_id);
  if (index_->wants_rebuild()) rebuild("the HNSW graph holds many forgotten vectors");
}

void VectorCache::replay(std::int64_t covered_id) {
  const std::vector<std::int64_t> indexed = index_->ids();
  std::vector<std::int64_t> live;
  live.reserve(live_);
  for (const Entry& e : entries_) live.push_back(e.id);
  std::vector<std::int64_t> gone;
  std::vector<std::int64_t> missing;
  std::set_difference(indexed.begin(), indexed.end(), live.begin(), live.end(),
                      std::back_inserter(gone));
  std::set_difference(live.begin(), live.end(), indexed.begin(), indexed.end(),
                      std::back_inserter(missing));
  for (const std::int64_t id : gone) index_->remove(id);
  add_from_db(missing);
  changed_ = !gone.empty() || !missing.empty();
  loaded_ = "snapshot up to memory " + std::to_string(covered_id);
  if (changed_) {
    loaded_ += " + replay (" + std::to_string(missing.size()) + " added, " +
               std::to_string(gone.size()) + " forgotten)";
  }
}

std::vector<float> VectorCache::stored_vector(std::int64_t id) {
  auto q = db_.prepare("SELECT vector FROM memory_embeddings WHERE memory_id = ? AND model = ?");
  q.bind(1, id).bind(2, embedder_);
  if (!q.step()) {
    throw Error(ErrorCode::kDataLoss,
                "state.db: memory " + std::to_string(id) + " has no " + embedder_ + " embedding");
  }
  std::vector<float> v = vector_from_bytes(q.blob(0));
  if (static_cast<int>(v.size()) != dimension_) {
    throw Error(ErrorCode::kDataLoss,
                "state.db: memory " + std::to_string(id) + " has a truncated embedding");
  }
  return v;
}

void VectorCache::add_from_db(const std::vector<std::int64_t>& ids) {
  const auto dim = static_cast<std::size_t>(dimension_);
  std::vector<float> batch;
  for (std::size_t first = 0; first < ids.size(); first += kBatch) {
    const std::size_t count = std::min(kBatch, ids.size() - first);
    batch.clear();
    batch.reserve(count * dim);
    for (std::size_t i = 0; i < count; ++i) {
      const std::vector<float> v = stored_vector(ids[first + i]);
      batch.insert(batch.end(), v.begin(), v.end());
    }
    index_->add(std::span(ids).subspan(first, count), batch);
  }
}

void VectorCache::rebuild(const std::string& why) {
  index_.reset();
  changed_ = true;
  if (dimension_ == 0) {
    loaded_ = "empty";
    return;
  }
  const std::string kind = wanted_kind();
  const auto total = static_cast<std::int64_t>(live_);
  (total > 10'000 ? log::warn : log::info)("memory: building the " + kind + " vector index of " +
                                           std::to_string(total) + " memories (" + why + ")");
  const auto dim = static_cast<std::size_t>(dimension_);
  std::vector<float> sample;
  if (kind == "ivf_pq") {
    const std::size_t stride = std::max<std::size_t>(live_ / kTrainingSample, 1);
    for (std::size_t i = 0; i < entries_.size(); i += stride) {
      const std::vector<float> v = stored_vector(entries_[i].id);
      sample.insert(sample.end(), v.begin(), v.end());
    }
  }
  index_ = make_vector_index(kind, config_, dimension_, live_, sample);
  sample = {};
  auto q = db_.prepare(
      "SELECT e.memory_id, e.vector FROM memory_embeddings e JOIN memories m ON m.id = "
      "e.memory_id WHERE e.model = ? AND m.deleted = 0 ORDER BY e.memory_id");
  q.bind(1, embedder_);
  std::vector<std::int64_t> ids;
  std::vector<float> batch;
  std::int64_t done = 0;
  const auto flush = [&] {
    index_->add(ids, batch);
    done += static_cast<std::int64_t>(ids.size());
    ids.clear();
    batch.clear();
    if (progress_) progress_(done, total);
  };
  while (q.step()) {
    const std::vector<float> v = vector_from_bytes(q.blob(1));
    if (v.size() != dim) {
      throw Error(ErrorCode::kDataLoss,
                  "state.db: memory " + std::to_string(q.int64(0)) + " has a truncated embedding");
    }
    ids.push_back(q.int64(0));
    batch.insert(batch.end(), v.begin(), v.end());
    if (ids.size() == kBatch) flush();
  }
  if (!ids.empty() || done == 0) flush();
  loaded_ = "rebuilt (" + why + ")";
  snapshot_if_changed();
}

void VectorCache::add(std::span<const std::int64_t> ids, const std::vector<std::string>& namespaces,
                      const std::vector<std::vector<float>>& vectors) {
  if (ids.empty()) return;
  if (dimension_ == 0) dimension_ = static_cast<int>(vectors.front().size());
  if (!index_) index_ = make_vector_index(wanted_kind(), config_, dimension_, ids.size(), {});
  std::vector<float> flat;
  flat.reserve(ids.size() * static_cast<std::size_t>(dimension_));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::uint32_t tag = tag_of(namespaces[i]);
    entries_.push_back({ids[i], tag});
    ++namespace_counts_[tag];
    ++live_;
    flat.insert(flat.end(), vectors[i].begin(), vectors[i].end());
  }
  index_->add(ids, flat);
  changed_ = true;
}

void VectorCache::remove(std::int64_t id) {
  Entry* entry = find_entry(id);
  if (entry == nullptr || entry->tag == kGone) return;
  --namespace_counts_[entry->tag];
  entry->tag = kGone;
  --live_;
  if (index_) index_->remove(id);
  changed_ = true;
}

std::vector<std::pair<std::int64_t, double>> VectorCache::exact_scan(
    const std::vector<float>& query, const std::vector<char>& wanted, int n) {
  std::vector<std::pair<std::int64_t, double>> scored;
  for (const Entry& e : entries_) {
    if (e.tag != kGone && wanted[e.tag] != 0)
      scored.emplace_back(e.id, dot(query, stored_vector(e.id)));
  }
  const std::size_t keep = std::min(scored.size(), static_cast<std::size_t>(n));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep),
                    scored.end(), better);
  scored.resize(keep);
  return scored;
}

std::vector<std::pair<std::int64_t, double>> VectorCache::search(const std::vector<float>& query,
                                                                 const std::string& prefix, int n) {
  if (!index_ || live_ == 0 || n <= 0 || static_cast<int>(query.size()) != dimension_) return {};
  std::vector<char> wanted(namespaces_.size());
  std::int64_t matching = 0;
  for (std::size_t tag = 0; tag < namespaces_.size(); ++tag) {
    wanted[tag] = under(namespaces_[tag], prefix) ? 1 : 0;
    if (wanted[tag] != 0) matching += namespace_counts_[tag];
  }
  if (matching == 0) return {};
  // A small namespace is scanned exactly: faster than asking an ANN index to filter.
  if (!prefix.empty() && matching <= std::max<std::int64_t>(4 * n, 2048)) {
    return exact_scan(query, wanted, n);
  }
  KeepFn keep;
  if (!prefix.empty()) {
    keep = [this, &wanted](std::int64_t id) {
      const Entry* e = find_entry(id);
      return e != nullptr && e->tag != kGone && wanted[e->tag] != 0;
    };
  }
  const bool rerank = index_->approximate_scores();
  const auto want = static_cast<std::size_t>(rerank ? std::max(4 * n, 100) : n);
  std::vector<std::pair<std::int64_t, double>> out;
  for (const Scored& s : index_->search(query, want, keep)) {
    out.emplace_back(s.id, rerank ? dot(query, stored_vector(s.id)) : static_cast<double>(s.score));
  }
  std::sort(out.begin(), out.end(), better);
  if (out.size() > static_cast<std::size_t>(n)) out.resize(static_cast<std::size_t>(n));
  return out;
}

void VectorCache::reload(const std::string& why) {
  if (!dir_.empty()) remove_snapshot(dir_);
  load_entries();
  rebuild(why);
}

void VectorCache::snapshot_if_changed() {
  if (!changed_ || dir_.empty() || !index_ || entries_.empty()) return;
  try {
    write_snapshot(dir_, *index_,
                   {index_->kind(), embedder_, dimension_, static_cast<std::int64_t>(live_),
                    entries_.back().id, index_params(index_->kind(), config_)});
    changed_ = false;
  } catch (const std::exception& e) {
    log::warn(std::string("memory: the vector index snapshot was not written (") + e.what() +
              "); the next start rebuilds it");
  }
}

VectorCacheStats VectorCache::stats() const {
  return {index_ ? index_->kind() : "none", index_ ? static_cast<std::int64_t>(index_->size()) : 0,
          index_ ? index_->memory_bytes() : 0, loaded_};
}

}  // namespace a4ps::memory
