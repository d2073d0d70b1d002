#include "memory/memory_store.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "image/state_db.h"
#include "memory/lexical_embedder.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps::memory {
namespace {

std::filesystem::path fresh_db(const std::string& name) {
  const auto dir = testing::scratch_dir() / "memory" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  migrate_state_db(dir / "state.db");
  return dir / "state.db";
}

using testing::code_of;

const std::vector<std::string> kCorpus = {
    "The Community Resource Atlas lists food banks, clinics and shelters by neighbourhood.",
    "Onboarding should feel safe: greet newcomers by name and ask before collecting data.",
    "Rapid adoption needs a short sign-up flow measured by completion rate.",
    "The lighthouse keeper logs every passing ship in a leather book.",
    "Clinics in the atlas open at eight and close at six on weekdays.",
};

std::unique_ptr<MemoryStore> corpus_store(const std::string& name) {
  auto store = MemoryStore::open(fresh_db(name), lexical_embedder());
  for (size_t i = 0; i < kCorpus.size(); ++i) {
    NewMemory m;
    m.text = kCorpus[i];
    m.namespace_path = i == 3 ? "fiction/sea" : "docs/atlas";
    m.source_kind = "document";
    m.source = "corpus.md";
    m.metadata = {{"line", i + 1}};
    store->add(m);
  }
  return store;
}

TEST(MemoryStore, HybridSearchFusesKeywordAndVectorRanksWithProvenance) {
  auto store = corpus_store("hybrid");
  const auto hits = store->search("clinics atlas", {3});
  ASSERT_EQ(hits.size(), 3u);
  // The two memories that name both clinics and the atlas lead, found by both legs.
  std::set<std::string> top = {hits[0].text, hits[1].text};
  EXPECT_EQ(top, (std::set<std::string>{kCorpus[0], kCorpus[4]}));
  for (const Hit& h : hits) {
    double rrf = 0;
    if (h.keyword_rank) rrf += 1.0 / (60.0 + *h.keyword_rank);
    if (h.vector_rank) rrf += 1.0 / (60.0 + *h.vector_rank);
    EXPECT_NEAR(h.score, rrf, 1e-12) << h.text;
    EXPECT_EQ(h.source, "corpus.md");
    EXPECT_EQ(h.source_kind, "document");
  }
  EXPECT_TRUE(hits[0].keyword_rank && hits[0].vector_rank);
  EXPECT_TRUE(hits[0].bm25.has_value() && hits[0].similarity.has_value());
  EXPECT_GT(hits[0].score, hits[2].score);
  const Hit& clinics = hits[0].text == kCorpus[4] ? hits[0] : hits[1];
  EXPECT_EQ(clinics.metadata["line"], 5);
}

TEST(MemoryStore, NamespacePrefixAndMetadataFiltersApplyToBothLegs) {
  auto store = corpus_store("filters");
  SearchOptions sea;
  sea.namespace_prefix = "fiction";
  const auto hits = store->search("ship book", sea);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].namespace_path, "fiction/sea");
  SearchOptions line2;
  line2.metadata_equals["line"] = 2;
  const auto filtered = store->search("newcomers data", line2);
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].text, kCorpus[1]);
  SearchOptions partial;
  partial.namespace_prefix = "doc";  // a prefix of a path part is not a parent
  EXPECT_TRUE(store->search("atlas", partial).empty());
}

TEST(MemoryStore, DuplicatesAreNotAddedAndForgottenMemoriesLeaveBothIndexes) {
  auto store = corpus_store("forget");
  NewMemory again;
  again.text = kCorpus[0];
  again.namespace_path = "docs/atlas";
  const AddResult dup = store->add(again);
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(store->stats().live, 5);
  const auto before = store->search("food banks shelters", {1});
  ASSERT_EQ(before.size(), 1u);
  store->forget(before[0].id);
  for (const Hit& h : store->search("food banks shelters", {5})) EXPECT_NE(h.id, before[0].id);
  EXPECT_EQ(store->stats().live, 4);
  EXPECT_EQ(store->stats().forgotten, 1);
  EXPECT_EQ(code_of([&] { store->forget(before[0].id); }), ErrorCode::kNotFound);
  EXPECT_FALSE(store->add(again).duplicate);  // forgotten text may be remembered again
}

TEST(MemoryStore, BadInputIsRefusedAndNothingIsWritten) {
  auto store = MemoryStore::open(fresh_db("bad"), lexical_embedder());
  NewMemory m;
  m.text = "   ";
  EXPECT_EQ(code_of([&] { store->add(m); }), ErrorCode::kInvalidArgument);
  m.text = std::string(kMaxMemoryBytes + 1, 'a');
  EXPECT_EQ(code_of([&] { store->add(m); }), ErrorCode::kInvalidArgument);
  m.text = "fine";
  m.importance = 1.5;
  EXPECT_EQ(code_of([&] { store->add(m); }), ErrorCode::kInvalidArgument);
  m.importance = 0.5;
  m.namespace_path = "/abs";
  EXPECT_EQ(code_of([&] { store->add(m); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->stats().live, 0);
  EXPECT_EQ(code_of([&] { store->search(""); }), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store->search("\"quoted\" AND (fts syntax) NEAR/3 *").empty());
}

TEST(MemoryStore, VectorsSurviveReopeningAndADimensionChangeAsksForReindex) {
  const auto path = fresh_db("reopen");
  {
    auto store = MemoryStore::open(path, lexical_embedder());
    NewMemory m;
    m.text = "Greet newcomers warmly.";
    store->add(m);
  }
  auto reopened = MemoryStore::open(path, lexical_embedder());
  EXPECT_EQ(reopened->stats().embedded, 1);
  EXPECT_EQ(reopened->search("newcomers").size(), 1u);
  Embedder smaller = lexical_embedder();
  smaller.embed_document =
      smaller.embed_query = [](const std::string& t) { return lexical_embedding(t, 64); };
  auto changed = MemoryStore::open(path, smaller);
  EXPECT_EQ(code_of([&] { changed->search("newcomers"); }), ErrorCode::kFailedPrecondition);
  std::int64_t last = 0;
  changed->reindex([&](std::int64_t done, std::int64_t total) { last = done * 100 + total; });
  EXPECT_EQ(last, 101);
  EXPECT_EQ(changed->stats().dimension, 64);
  EXPECT_EQ(changed->search("newcomers").size(), 1u);
}

}  // namespace
}  // namespace a4ps::memory
