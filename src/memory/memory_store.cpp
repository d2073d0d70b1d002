#include "memory/memory_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json_text.h"
#include "core/log.h"
#include "image/sqlite.h"
#include "memory/lexical_embedder.h"

namespace a4ps::memory {
namespace {

using nlohmann::json;

constexpr double kRrfK = 60.0;

void normalize(std::vector<float>& v) {
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  if (norm <= 0) return;
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
}

void check_namespace(const std::string& ns) {
  const bool ok =
      ns.size() <= 200 && ns.find("//") == std::string::npos && (ns.empty() || ns.front() != '/') &&
      (ns.empty() || ns.back() != '/') &&
      ns.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") ==
          std::string::npos;
  if (!ok) {
    throw_invalid_argument("namespace \"" + ns +
                           "\": expected a path of letters, digits, '.', '_' and '-' parts "
                           "joined by '/', such as docs/atlas");
  }
}

// The words of `query` as an FTS5 expression matching any of them, each quoted so that no
// character of the user's text is taken as FTS5 syntax.
std::string fts_query(const std::string& query) {
  std::string out;
  std::string word;
  const auto flush = [&] {
    if (word.empty()) return;
    out += (out.empty() ? "\"" : " OR \"") + word + "\"";
    word.clear();
  };
  for (const char c : query) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || u >= 0x80) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// Vectors stored under a name the embedder had before (a model once known by its path) become
// its own, once: only when it has none yet, so two models never mix.
void take_over_former_names(sql::Database& db, const Embedder& embedder) {
  if (embedder.former_names.empty()) return;
  auto mine = db.prepare("SELECT count(*) FROM memory_embeddings WHERE model = ?");
  mine.bind(1, embedder.name);
  if (!mine.step() || mine.int64(0) > 0) return;
  for (const std::string& former : embedder.former_names) {
    sql::Transaction tx(db);
    auto move = db.prepare("UPDATE memory_embeddings SET model = ? WHERE model = ?");
    move.bind(1, embedder.name).bind(2, former);
    move.step();
    const std::int64_t moved = db.changes();
    tx.commit();
    if (moved > 0) {
      log::info("memory: " + std::to_string(moved) + " vectors of " + former +
                " are now known as " + embedder.name);
      return;
    }
  }
}

}  // namespace

Embedder lexical_embedder() {
  return {"lexical", [](const std::string& t) { return lexical_embedding(t); },
          [](const std::string& t) { return lexical_embedding(t); }};
}

MemoryStore::MemoryStore(std::unique_ptr<sql::Database> db, Embedder embedder)
    : embedder_(std::move(embedder)), db_(std::move(db)) {}

MemoryStore::~MemoryStore() {
  std::lock_guard lock(mu_);
  if (vectors_) vectors_->snapshot_if_changed();
}

std::unique_ptr<MemoryStore> MemoryStore::open(const std::filesystem::path& state_db,
                                               Embedder embedder, MemoryStoreOptions options) {
  auto db = sql::Database::open(state_db.string());
  db->exec("PRAGMA synchronous=NORMAL", "setting durability");
  take_over_former_names(*db, embedder);
  std::unique_ptr<MemoryStore> store(new MemoryStore(std::move(db), std::move(embedder)));
  std::lock_guard lock(store->mu_);
  store->vectors_ = std::make_unique<VectorCache>(
      *store->db_, store->embedder_.name, std::move(options.index), std::move(options.index_dir),
      std::move(options.rebuild_progress));
  store->warn_if_partly_embedded();
  return store;
}

void MemoryStore::warn_if_partly_embedded() {
  auto q = db_->prepare(
      "SELECT count(*), count(e.memory_id) FROM memories m LEFT JOIN memory_embeddings e ON "
      "e.memory_id = m.id AND e.model = ? WHERE m.deleted = 0");
  q.bind(1, embedder_.name);
  if (!q.step()) return;
  const std::int64_t live = q.int64(0);
  const std::int64_t embedded = q.int64(1);
  if (embedded >= live) return;
  log::warn("memory: " + std::to_string(live - embedded) + " of " + std::to_string(live) +
            " memories have no vector from the embedder " + embedder_.name +
            ", so searches find them by their words only; `a4ps memory reindex` embeds them");
}

std::vector<float> MemoryStore::embed_checked(const std::string& text, bool query) {
  std::vector<float> v = query ? embedder_.embed_query(text) : embedder_.embed_document(text);
  if (v.empty()) {
    throw Error(ErrorCode::kInternal, "embedder " + embedder_.name + " returned no vector");
  }
  std::lock_guard lock(mu_);
  const int dimension = vectors_->dimension();
  if (dimension != 0 && static_cast<int>(v.size()) != dimension) {
    throw Error(ErrorCode::kFailedPrecondition,
                "the embedder " + embedder_.name + " now gives " + std::to_string(v.size()) +
                    "-dimensional vectors, but the stored ones have " + std::to_string(dimension) +
                    " (the model changed); run a4ps memory reindex to embed every memory again");
  }
  normalize(v);
  return v;
}

namespace {

void check_new_memory(const NewMemory& memory) {
  if (memory.text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid_argument("memory text is empty");
  }
  if (memory.text.size() > kMaxMemoryBytes) {
    throw_invalid_argument("memory text is " + std::to_string(memory.text.size()) +
                           " bytes; one memory holds at most " + std::to_string(kMaxMemoryBytes) +
                           " (a4ps memory import splits long documents)");
  }
  if (!(memory.importance >= 0 && memory.importance <= 1)) {
    throw_invalid_argument("memory importance " + std::to_string(memory.importance) +
                           ": expected a number from 0 to 1");
  }
  check_namespace(memory.namespace_path);
}

}  // namespace

AddResult MemoryStore::add(const NewMemory& memory) {
  return add_many({memory}).front();
}

std::vector<AddResult> MemoryStore::add_many(const std::vector<NewMemory>& memories,
                                             const std::function<void(size_t, size_t)>& progress) {
  for (const NewMemory& m : memories) check_new_memory(m);
  std::vector<AddResult> results(memories.size());
  std::vector<std::string> hashes;
  std::vector<bool> fresh(memories.size(), true);
  {
    std::lock_guard lock(mu_);
    std::map<std::pair<std::string, std::string>, std::int64_t> seen;  // in this batch
    for (size_t i = 0; i < memories.size(); ++i) {
      hashes.push_back(hex64(fnv1a(memories[i].text)));
      auto dup = db_->prepare(
          "SELECT id FROM memories WHERE namespace = ? AND content_hash = ? AND deleted = 0");
      dup.bind(1, memories[i].namespace_path).bind(2, hashes[i]);
      if (dup.step()) {
        results[i] = {dup.int64(0), true};
        fresh[i] = false;
      } else if (seen.contains({memories[i].namespace_path, hashes[i]})) {
        fresh[i] = false;  // resolved to the first copy's id below
      } else {
        seen[{memories[i].namespace_path, hashes[i]}] = -1;
      }
    }
  }
  // Embedding may call a model: done before the lock is taken.
  std::vector<std::vector<float>> vectors(memories.size());
  for (size_t i = 0; i < memories.size(); ++i) {
    if (fresh[i]) vectors[i] = embed_checked(memories[i].text, /*query=*/false);
    if (progress) progress(i + 1, memories.size());
  }
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  const std::int64_t now = unix_ms();
  std::map<std::pair<std::string, std::string>, std::int64_t> stored;
  for (size_t i = 0; i < memories.size(); ++i) {
    const NewMemory& memory = memories[i];
    if (!fresh[i]) {
      const auto first = stored.find({memory.namespace_path, hashes[i]});
      if (first != stored.end()) results[i] = {first->second, true};
      continue;
    }
    db_->prepare(
           "INSERT INTO memories (namespace, source_kind, source, text, metadata, content_hash,"
           " importance, created_ms, accessed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, memory.namespace_path)
        .bind(2, memory.source_kind)
        .bind(3, memory.source)
        .bind(4, memory.text)
        .bind(5, stored_json(memory.metadata.is_object() ? memory.metadata : json::object()))
        .bind(6, hashes[i])
        .bind_real(7, memory.importance)
        .bind(8, now)
        .bind(9, now)
        .run();
    const std::int64_t id = db_->last_insert_id();
    db_->prepare(
           "INSERT INTO memory_embeddings (memory_id, model, dimension, vector) VALUES (?, ?, ?, "
           "?)")
        .bind(1, id)
        .bind(2, embedder_.name)
        .bind(3, static_cast<std::int64_t>(vectors[i].size()))
        .bind_blob(4, vector_to_bytes(vectors[i]))
        .run();
    results[i] = {id, false};
    stored[{memory.namespace_path, hashes[i]}] = id;
  }
  txn.commit();
  std::vector<std::int64_t> ids;
  std::vector<std::string> namespaces;
  std::vector<std::vector<float>> fresh_vectors;
  for (size_t i = 0; i < memories.size(); ++i) {
    if (!fresh[i]) continue;
    ids.push_back(results[i].id);
    namespaces.push_back(memories[i].namespace_path);
    fresh_vectors.push_back(std::move(vectors[i]));
  }
  vectors_->add(ids, namespaces, fresh_vectors);
  return results;
}

std::vector<std::pair<std::int64_t, double>> MemoryStore::keyword_leg(const std::string& query,
                                                                      const std::string& prefix,
                                                                      int n) {
  std::vector<std::pair<std::int64_t, double>> out;
  const std::string match = fts_query(query);
  if (match.empty()) return out;
  // The FTS index holds live memories only (the forget trigger removes them), so without a
  // namespace prefix no join with memories is needed: that join costs a lookup per match.
  auto q = db_->prepare(
      prefix.empty()
          ? "SELECT rowid, bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ?1 AND "
            "?2 = '' ORDER BY bm25(memories_fts) LIMIT ?3"
          : "SELECT m.id, bm25(memories_fts) FROM memories_fts JOIN memories m ON m.id = "
            "memories_fts.rowid WHERE memories_fts MATCH ?1 AND m.deleted = 0 AND (m.namespace "
            "= ?2 OR substr(m.namespace, 1, length(?2) + 1) = ?2 || '/') ORDER BY "
            "bm25(memories_fts) LIMIT ?3");
  q.bind(1, match).bind(2, prefix).bind(3, static_cast<std::int64_t>(n));
  while (q.step()) out.emplace_back(q.int64(0), q.real(1));
  return out;
}

namespace {

bool by_score(const Hit& a, const Hit& b) {
  return a.score != b.score ? a.score > b.score : a.id < b.id;
}

}  // namespace

std::vector<Hit> MemoryStore::fuse(const std::string& query, const std::vector<float>& q,
                                   const SearchOptions& options) {
  const int n = std::max(options.candidates, options.k);
  std::map<std::int64_t, Hit> fused;
  int rank = 0;
  for (const auto& [id, bm25] : keyword_leg(query, options.namespace_prefix, n)) {
    Hit& h = fused[id];
    h.keyword_rank = ++rank;
    h.bm25 = bm25;
    h.score += 1.0 / (kRrfK + rank);
  }
  rank = 0;
  for (const auto& [id, similarity] : vectors_->search(q, options.namespace_prefix, n)) {
    Hit& h = fused[id];
    h.vector_rank = ++rank;
    h.similarity = similarity;
    h.score += 1.0 / (kRrfK + rank);
  }
  std::vector<Hit> hits;
  for (auto& [id, h] : fused) {
    h.id = id;
    hits.push_back(std::move(h));
  }
  std::sort(hits.begin(), hits.end(), by_score);
  return hits;
}

bool MemoryStore::fill(Hit& h, const SearchOptions& options, std::int64_t now) {
  auto row = db_->prepare(
      "SELECT text, namespace, source_kind, source, metadata, importance, created_ms FROM "
      "memories WHERE id = ? AND deleted = 0");
  row.bind(1, h.id);
  if (!row.step()) return false;
  h.text = row.text(0);
  h.namespace_path = row.text(1);
  h.source_kind = row.text(2);
  h.source = row.text(3);
  h.metadata = json::parse(row.text(4), nullptr, false);
  for (const auto& [key, value] : options.metadata_equals) {
    if (!h.metadata.is_object() || !h.metadata.contains(key) || h.metadata[key] != value) {
      return false;
    }
  }
  const double age_days = static_cast<double>(now - row.int64(6)) / 86'400'000.0;
  h.score += options.recency_weight / (1.0 + std::max(0.0, age_days)) +
             options.importance_weight * row.real(5);
  return true;
}

std::vector<Hit> MemoryStore::search(const std::string& query, const SearchOptions& options) {
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid_argument("the search query is empty");
  }
  if (options.k < 1) throw_invalid_argument("k must be at least 1");
  check_namespace(options.namespace_prefix);
  const std::vector<float> q = embed_checked(query, /*query=*/true);
  std::lock_guard lock(mu_);
  const std::int64_t now = unix_ms();
  const auto k = static_cast<size_t>(options.k);
  // Without weights the fused order is final: rows are read only until k are accepted.
  const bool weighted = options.recency_weight != 0 || options.importance_weight != 0;
  std::vector<Hit> hits;
  for (Hit& h : fuse(query, q, options)) {
    if (!weighted && hits.size() == k) break;
    if (fill(h, options, now)) hits.push_back(std::move(h));
  }
  std::sort(hits.begin(), hits.end(), by_score);
  if (hits.size() > k) hits.resize(k);
  sql::Transaction txn(*db_);  // one commit for every touch
  for (const Hit& h : hits) {
    db_->prepare("UPDATE memories SET accessed_ms = ? WHERE id = ?")
        .bind(1, now)
        .bind(2, h.id)
        .run();
  }
  txn.commit();
  return hits;
}

void MemoryStore::forget(std::int64_t id) {
  std::lock_guard lock(mu_);
  db_->prepare("UPDATE memories SET deleted = 1 WHERE id = ? AND deleted = 0").bind(1, id).run();
  if (db_->changes() == 0) {
    throw_not_found("memory " + std::to_string(id) + ": no such memory (or already forgotten)");
  }
  vectors_->remove(id);
}

MemoryStats MemoryStore::stats() {
  std::lock_guard lock(mu_);
  MemoryStats s;
  auto q = db_->prepare("SELECT sum(deleted = 0), sum(deleted = 1) FROM memories");
  if (q.step()) {
    s.live = q.int64(0);
    s.forgotten = q.int64(1);
  }
  s.embedded = vectors_->size();
  s.embedder = embedder_.name;
  s.dimension = vectors_->dimension();
  s.index = vectors_->stats();
  return s;
}

void MemoryStore::reindex(const std::function<void(std::int64_t, std::int64_t)>& progress) {
  std::vector<std::pair<std::int64_t, std::string>> live;
  {
    std::lock_guard lock(mu_);
    auto q = db_->prepare("SELECT id, text FROM memories WHERE deleted = 0 ORDER BY id");
    while (q.step()) live.emplace_back(q.int64(0), q.text(1));
  }
  const auto total = static_cast<std::int64_t>(live.size());
  std::int64_t done = 0;
  for (const auto& [id, text] : live) {
    std::vector<float> v = embedder_.embed_document(text);
    normalize(v);
    std::lock_guard lock(mu_);
    db_->prepare(
           "INSERT OR REPLACE INTO memory_embeddings (memory_id, model, dimension, vector) VALUES "
           "(?, ?, ?, ?)")
        .bind(1, id)
        .bind(2, embedder_.name)
        .bind(3, static_cast<std::int64_t>(v.size()))
        .bind_blob(4, vector_to_bytes(v))
        .run();
    if (progress) progress(++done, total);
  }
  std::lock_guard lock(mu_);
  vectors_->reload("every memory was embedded again");
}

json hit_json(const Hit& h) {
  json out = {{"id", h.id},
              {"score", h.score},
              {"text", h.text},
              {"namespace", h.namespace_path},
              {"source_kind", h.source_kind},
              {"source", h.source},
              {"metadata", h.metadata}};
  if (h.keyword_rank) out["keyword"] = {{"rank", *h.keyword_rank}, {"bm25", *h.bm25}};
  if (h.vector_rank) out["vector"] = {{"rank", *h.vector_rank}, {"similarity", *h.similarity}};
  return out;
}

json stats_json(const MemoryStats& s) {
  return {{"live", s.live},
          {"forgotten", s.forgotten},
          {"embedded", s.embedded},
          {"embedder", s.embedder},
          {"dimension", s.dimension},
          {"index",
           {{"kind", s.index.kind},
            {"vectors", s.index.vectors},
            {"bytes", s.index.index_bytes},
            {"loaded", s.index.loaded}}}};
}

}  // namespace a4ps::memory
