// The vector leg over a fixed set of clustered random vectors: each index kind's recall@10
// against an exact fp32 scan, namespace filtering, and the snapshot's life (replay of rows
// added and forgotten after it, rebuild when it is corrupt or made for another model or kind).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "core/error.h"
#include "image/sqlite.h"
#include "image/state_db.h"
#include "memory/memory_store.h"
#include "memory/vector_cache.h"
#include "support/test_models.h"

namespace a4ps::memory {
namespace {

constexpr int kDim = 48;
constexpr int kCount = 6000;

// Unit vectors around 60 random centres: clustered like real embeddings, so that ANN recall is
// neither trivially 1 nor hopeless.
std::vector<std::vector<float>> fixed_vectors(int count, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<std::vector<float>> centres(60, std::vector<float>(kDim));
  for (auto& c : centres) {
    for (float& x : c) x = noise(rng);
  }
  std::vector<std::vector<float>> out;
  for (int i = 0; i < count; ++i) {
    std::vector<float> v = centres[static_cast<size_t>(i) % centres.size()];
    for (float& x : v) x += 0.6f * noise(rng);
    float norm = 0;
    for (const float x : v) norm += x * x;
    for (float& x : v) x /= std::sqrt(norm);
    out.push_back(std::move(v));
  }
  return out;
}

const std::vector<std::vector<float>>& corpus() {
  static const auto vectors = fixed_vectors(kCount, 7);
  return vectors;
}

// "vec N" embeds as the N-th fixed vector: the store keeps real rows, the vectors stay known.
Embedder fixed_embedder(const std::string& name = "fixed") {
  const auto embed = [](const std::string& text) {
    return corpus().at(static_cast<size_t>(std::stoi(text.substr(4))));
  };
  return {name, embed, embed};
}

struct Image {
  std::filesystem::path db;
  std::filesystem::path index_dir;
};

// A state.db holding the whole corpus; even rows under "even", odd rows under "odd/deep".
Image corpus_image(const std::string& name) {
  const auto dir = testing::scratch_dir() / "vector_index" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  migrate_state_db(dir / "state.db");
  auto store = MemoryStore::open(dir / "state.db", fixed_embedder());
  std::vector<NewMemory> memories;
  for (int i = 0; i < kCount; ++i) {
    NewMemory m;
    m.text = "vec " + std::to_string(i);
    m.namespace_path = i % 2 == 0 ? "even" : "odd/deep";
    memories.push_back(std::move(m));
  }
  store->add_many(memories);
  return {dir / "state.db", dir / "index"};
}

IndexConfig config_for(const std::string& kind) {
  IndexConfig c;
  c.kind = kind;
  c.ivf_min_train = 1000;
  return c;
}

// The exact top-k ids (memory ids are row + 1) under `keep_row`.
std::vector<std::int64_t> exact_top(const std::vector<float>& q, size_t k,
                                    const std::function<bool(int)>& keep_row) {
  std::vector<std::pair<double, std::int64_t>> scored;
  for (int i = 0; i < kCount; ++i) {
    if (!keep_row(i)) continue;
    double dot = 0;
    for (int d = 0; d < kDim; ++d) {
      dot += static_cast<double>(q[static_cast<size_t>(d)]) *
             static_cast<double>(corpus()[static_cast<size_t>(i)][static_cast<size_t>(d)]);
    }
    scored.emplace_back(-dot, i + 1);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::int64_t> ids;
  for (size_t i = 0; i < k && i < scored.size(); ++i) ids.push_back(scored[i].second);
  return ids;
}

double recall_at_10(VectorCache& cache, const std::string& prefix,
                    const std::function<bool(int)>& keep_row) {
  const auto queries = fixed_vectors(40, 99);
  double found = 0;
  for (const auto& q : queries) {
    const auto truth = exact_top(q, 10, keep_row);
    std::set<std::int64_t> got;
    for (const auto& [id, score] : cache.search(q, prefix, 10)) {
      EXPECT_TRUE(keep_row(static_cast<int>(id - 1))) << "id " << id << " is outside " << prefix;
      got.insert(id);
    }
    for (const std::int64_t id : truth) found += got.contains(id) ? 1 : 0;
  }
  return found / (10.0 * static_cast<double>(queries.size()));
}

class EachIndexKind : public ::testing::TestWithParam<std::string> {};

TEST_P(EachIndexKind, RecallAtTenAgainstExactIsAtLeast095AndFiltersHold) {
  const Image image = corpus_image("recall_" + GetParam());
  auto db = sql::Database::open(image.db.string());
  VectorCache cache(*db, "fixed", config_for(GetParam()), image.index_dir, {});
  EXPECT_EQ(cache.stats().kind, GetParam());
  EXPECT_EQ(cache.size(), kCount);
  const double all = recall_at_10(cache, "", [](int) { return true; });
  EXPECT_GE(all, 0.95) << GetParam();
  // 3000 memories under "odd": more than the exact-scan shortcut, so the index filters.
  const double odd = recall_at_10(cache, "odd", [](int row) { return row % 2 == 1; });
  EXPECT_GE(odd, 0.95) << GetParam();
  if (GetParam() == "flat") {
    EXPECT_DOUBLE_EQ(all, 1.0);
  }  // re-ranked exactly
}

INSTANTIATE_TEST_SUITE_P(Kinds, EachIndexKind, ::testing::Values("flat", "hnsw", "ivf_pq"));

std::set<std::int64_t> top_ids(VectorCache& cache, const std::vector<float>& q, int n) {
  std::set<std::int64_t> ids;
  for (const auto& [id, score] : cache.search(q, "", n)) ids.insert(id);
  return ids;
}

void add_later_copies(const Image& image, int count, const std::string& embedder = "fixed") {
  auto store = MemoryStore::open(image.db, fixed_embedder(embedder));
  for (int i = 0; i < count; ++i) store->add({"vec " + std::to_string(i), "later"});
}

class SnapshotOfEachKind : public ::testing::TestWithParam<std::string> {};

TEST_P(SnapshotOfEachKind, ReopeningReplaysRowsAddedAndForgottenSinceTheSnapshot) {
  const Image image = corpus_image("replay_" + GetParam());
  const IndexConfig config = config_for(GetParam());
  const auto open = [&](const std::filesystem::path& dir) {
    auto db = sql::Database::open(image.db.string());
    auto cache = std::make_unique<VectorCache>(*db, "fixed", config, dir, Progress{});
    return std::make_pair(std::move(db), std::move(cache));
  };
  {
    auto [db, cache] = open(image.index_dir);
    EXPECT_EQ(cache->stats().loaded, "rebuilt (there is no snapshot yet)");
    EXPECT_TRUE(std::filesystem::exists(image.index_dir / "manifest.json"));
  }
  {
    auto [db, cache] = open(image.index_dir);
    EXPECT_EQ(cache->stats().loaded, "snapshot up to memory 6000");
  }
  // Another process adds ten memories and forgets five, without touching the snapshot.
  add_later_copies(image, 10);
  {
    auto store = MemoryStore::open(image.db, fixed_embedder());
    for (std::int64_t id = 1; id <= 5; ++id) store->forget(id);
  }
  auto [db, cache] = open(image.index_dir);
  EXPECT_EQ(cache->stats().loaded, "snapshot up to memory 6000 + replay (10 added, 5 forgotten)");
  EXPECT_EQ(cache->size(), kCount + 5);
  auto [fresh_db, fresh] = open({});  // rebuilt from state.db alone
  for (int row : {0, 3, 8, 777}) {
    const auto got = top_ids(*cache, corpus()[static_cast<size_t>(row)], 10);
    for (std::int64_t id = 1; id <= 5; ++id) {
      EXPECT_FALSE(got.contains(id)) << id;
    }
    if (row < 10) {
      EXPECT_TRUE(got.contains(kCount + 1 + row)) << "the later copy of " << row;
    }
    if (GetParam() == "flat") {
      EXPECT_EQ(got, top_ids(*fresh, corpus()[static_cast<size_t>(row)], 10));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, SnapshotOfEachKind, ::testing::Values("flat", "hnsw", "ivf_pq"));

std::filesystem::path payload_of(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with("vectors-")) return entry.path();
  }
  return {};
}

std::string loaded(const Image& image, const std::string& embedder, const IndexConfig& config) {
  auto db = sql::Database::open(image.db.string());
  VectorCache cache(*db, embedder, config, image.index_dir, {});
  EXPECT_EQ(top_ids(cache, corpus()[42], 1), std::set<std::int64_t>{43});
  return cache.stats().loaded;
}

TEST(VectorIndexSnapshot, CorruptStaleOrForeignSnapshotsAreRebuiltWithTheReason) {
  const Image image = corpus_image("rebuild");
  const IndexConfig hnsw = config_for("hnsw");
  EXPECT_EQ(loaded(image, "fixed", hnsw), "rebuilt (there is no snapshot yet)");

  // A flipped byte in the middle of the payload: the CRC catches it before hnswlib reads it.
  const auto payload = payload_of(image.index_dir);
  ASSERT_FALSE(payload.empty());
  {
    std::fstream f(payload, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(payload) / 2));
    f.put('\x5a');
  }
  EXPECT_EQ(loaded(image, "fixed", hnsw),
            "rebuilt (its file " + payload.filename().string() + " is missing or corrupt)");
  EXPECT_EQ(loaded(image, "fixed", hnsw), "snapshot up to memory 6000");

  std::ofstream(image.index_dir / "manifest.json", std::ios::trunc) << "{\"format\": 1, \"fi";
  EXPECT_EQ(loaded(image, "fixed", hnsw),
            "rebuilt (its manifest is unreadable or of another format)");

  EXPECT_EQ(loaded(image, "fixed", config_for("flat")),
            "rebuilt (it is a hnsw index and flat is wanted)");
  IndexConfig denser = config_for("flat");
  denser.kind = "hnsw";
  denser.hnsw_m = 24;
  EXPECT_EQ(loaded(image, "fixed", hnsw), "rebuilt (it is a flat index and hnsw is wanted)");
  EXPECT_EQ(loaded(image, "fixed", denser), "rebuilt (it was built with other index parameters)");

  // The same memories embedded by another model: the snapshot of the first is not used.
  add_later_copies(image, 0);
  {
    auto store = MemoryStore::open(image.db, fixed_embedder("other"));
    store->reindex();
  }
  EXPECT_EQ(loaded(image, "other", denser),
            "rebuilt (it was made by another embedding model (fixed))");
}

TEST(VectorIndexSnapshot, AutoIsFlatUpToFlatMaxThenHnsw) {
  const Image image = corpus_image("auto");
  IndexConfig config;
  config.flat_max = kCount;
  EXPECT_EQ(loaded(image, "fixed", config), "rebuilt (there is no snapshot yet)");
  config.flat_max = kCount - 1;
  EXPECT_EQ(loaded(image, "fixed", config), "rebuilt (it is a flat index and hnsw is wanted)");
}

TEST(VectorIndexConfig, OutOfRangeParametersAreRefusedByName) {
  IndexConfig c;
  c.kind = "annoy";
  EXPECT_THROW(check_index_config(c), Error);
  c = {};
  c.hnsw_m = 1;
  try {
    check_index_config(c);
    FAIL() << "hnsw_m = 1 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "[memory] hnsw_m = 1: expected at least 2");
  }
}

}  // namespace
}  // namespace a4ps::memory
