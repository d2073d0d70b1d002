// Episodic memory at scale: synthetic 768-d unit vectors (clustered like real embeddings; the
// embedding time is excluded by an embedder that looks them up), with FAISS IndexFlatIP exact
// search measured in the same run as the reference.
//
// Per size: insert throughput through MemoryStore (SQLite row + FTS5 + embedding + index), then
// for each index kind its rebuild time from state.db, RAM per vector, vector-leg p50/p95 and
// recall@10 against FAISS's exact answer, and the hybrid search p50/p95 (BM25 + vector + RRF).
// --index-only skips SQLite (for 1M, whose state.db would be 3+ GB): the index is built from
// the vectors in RAM and approximate scores are re-ranked from RAM too.
//
//   a4ps_bench_memory [--sizes 10000,100000] [--dim 768] [--queries 200] [--kinds flat,hnsw,ivf_pq]
//                     [--index-only] [--dir DIR]
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "image/sqlite.h"
#include "image/state_db.h"
#include "memory/memory_store.h"
#include "memory/vector_cache.h"
#include "memory/vector_index.h"

namespace {

using namespace a4ps::memory;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Options {
  std::vector<std::size_t> sizes = {10'000, 100'000};
  int dim = 768;
  int queries = 200;
  std::vector<std::string> kinds = {"flat", "hnsw", "ivf_pq"};
  bool index_only = false;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "a4ps-bench-memory";
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

// Unit vectors around sqrt(n) centres with noise, row-major.
std::vector<float> synthetic(std::size_t n, int dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  const auto d = static_cast<std::size_t>(dim);
  const std::size_t centres = std::max<std::size_t>(16, static_cast<std::size_t>(std::sqrt(n)));
  std::mt19937 centre_rng(12345);
  std::vector<float> c(centres * d);
  for (float& x : c) x = noise(centre_rng);
  std::vector<float> out(n * d);
  std::uniform_int_distribution<std::size_t> pick(0, centres - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const float* centre = c.data() + pick(rng) * d;
    float* v = out.data() + i * d;
    float norm = 0;
    for (std::size_t j = 0; j < d; ++j) {
      v[j] = centre[j] + 0.7f * noise(rng);
      norm += v[j] * v[j];
    }
    const float inv = 1.0f / std::sqrt(norm);
    for (std::size_t j = 0; j < d; ++j) v[j] *= inv;
  }
  return out;
}

struct Percentiles {
  double p50_ms = 0;
  double p95_ms = 0;
};

Percentiles percentiles(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)]};
}

// A few words per memory from a 5000-word vocabulary, so that BM25 has work to do.
std::string text_for(std::size_t i) {
  std::mt19937 rng(static_cast<unsigned>(i));
  std::uniform_int_distribution<int> word(0, 4999);
  std::string text = "m" + std::to_string(i);
  for (int w = 0; w < 12; ++w) text += " w" + std::to_string(word(rng));
  return text;
}

struct Corpus {
  std::vector<float> vectors;
  std::vector<float> queries;
  std::vector<std::vector<faiss::Index::idx_t>> truth;  // FAISS's exact top-10 (ids = row + 1)
  double faiss_add_s = 0;
  Percentiles faiss_search;
};

Corpus make_corpus(std::size_t n, const Options& o) {
  Corpus c;
  c.vectors = synthetic(n, o.dim, 1);
  c.queries = synthetic(static_cast<std::size_t>(o.queries), o.dim, 2);
  faiss::IndexFlatIP flat(o.dim);
  const auto started = Clock::now();
  flat.add(static_cast<faiss::Index::idx_t>(n), c.vectors.data());
  c.faiss_add_s = seconds_since(started);
  std::vector<double> ms;
  for (int q = 0; q < o.queries; ++q) {
    std::vector<float> scores(10);
    std::vector<faiss::Index::idx_t> labels(10);
    const auto t = Clock::now();
    flat.search(1, c.queries.data() + static_cast<std::size_t>(q * o.dim), 10, scores.data(),
                labels.data());
    ms.push_back(seconds_since(t) * 1000);
    for (auto& l : labels) ++l;  // memory ids start at 1
    c.truth.push_back(labels);
  }
  c.faiss_search = percentiles(ms);
  return c;
}

double recall(const std::vector<std::int64_t>& got, const std::vector<faiss::Index::idx_t>& truth) {
  const std::set<std::int64_t> g(got.begin(), got.end());
  double hits = 0;
  for (const auto id : truth) hits += g.contains(id) ? 1 : 0;
  return hits / static_cast<double>(truth.size());
}

IndexConfig config_for(const std::string& kind) {
  IndexConfig c;
  c.kind = kind;
  return c;
}

void print_row(const char* label, const std::string& kind, double build_s, double bytes_per_vector,
               Percentiles vec, double rec, Percentiles hybrid) {
  std::printf(
      "  %-6s %-7s build %7.2f s  RAM %6.0f B/vector  vector p50 %7.3f ms p95 %7.3f ms  "
      "recall@10 %.3f",
      label, kind.c_str(), build_s, bytes_per_vector, vec.p50_ms, vec.p95_ms, rec);
  if (hybrid.p50_ms > 0) {
    std::printf("  hybrid p50 %7.3f ms p95 %7.3f ms", hybrid.p50_ms, hybrid.p95_ms);
  }
  std::printf("\n");
  std::fflush(stdout);
}

// The store path: rows through MemoryStore, then each kind rebuilt from state.db.
void bench_store(std::size_t n, const Corpus& c, const Options& o) {
  const auto dir = o.dir / ("n" + std::to_string(n));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  a4ps::migrate_state_db(dir / "state.db");
  const auto d = static_cast<std::size_t>(o.dim);
  // Text "mI ..." embeds as vector I; "qJ ..." as query J.
  const auto embed = [&c, d](const std::string& text) {
    const std::size_t i = std::stoul(text.substr(1, text.find(' ') - 1));
    const float* v = text[0] == 'q' ? c.queries.data() + i * d : c.vectors.data() + i * d;
    return std::vector<float>(v, v + d);
  };
  const Embedder embedder{"synthetic", embed, embed};
  {
    auto store = MemoryStore::open(dir / "state.db", embedder);
    const auto started = Clock::now();
    for (std::size_t first = 0; first < n; first += 5000) {
      std::vector<NewMemory> batch;
      for (std::size_t i = first; i < std::min(n, first + 5000); ++i) {
        batch.push_back({text_for(i), "bench"});
      }
      store->add_many(batch);
    }
    const double s = seconds_since(started);
    std::printf(
        "  insert through MemoryStore: %.0f memories/s (%.1f s; SQLite row, FTS5, "
        "embedding blob, flat index)\n",
        static_cast<double>(n) / s, s);
  }
  for (const std::string& kind : o.kinds) {
    if (kind == "ivf_pq" && n < 10'000) continue;
    auto db = a4ps::sql::Database::open((dir / "state.db").string());
    const auto started = Clock::now();
    VectorCache cache(*db, "synthetic", config_for(kind), {}, {});
    const double build_s = seconds_since(started);
    std::vector<double> ms;
    double rec = 0;
    for (int q = 0; q < o.queries; ++q) {
      const std::vector<float> query(c.queries.begin() + q * o.dim,
                                     c.queries.begin() + (q + 1) * o.dim);
      const auto t = Clock::now();
      const auto hits = cache.search(query, "", 10);
      ms.push_back(seconds_since(t) * 1000);
      std::vector<std::int64_t> ids;
      for (const auto& h : hits) ids.push_back(h.first);
      rec += recall(ids, c.truth[static_cast<std::size_t>(q)]);
    }
    // Hybrid through a store whose index is this kind (its build is not timed again).
    MemoryStoreOptions options;
    options.index = config_for(kind);
    auto store = MemoryStore::open(dir / "state.db", embedder, options);
    std::vector<double> hybrid_ms;
    for (int q = 0; q < o.queries; ++q) {
      const std::string text = "q" + std::to_string(q) + " " +
                               text_for(static_cast<std::size_t>(q) * 7919 % n).substr(1);
      SearchOptions so;
      so.k = 10;
      const auto t = Clock::now();
      store->search(text, so);
      hybrid_ms.push_back(seconds_since(t) * 1000);
    }
    print_row("store", kind, build_s,
              static_cast<double>(cache.stats().index_bytes) / static_cast<double>(n),
              percentiles(ms), rec / o.queries, percentiles(hybrid_ms));
  }
}

// The index alone, from vectors in RAM (re-ranking approximate scores from RAM).
void bench_index_only(std::size_t n, const Corpus& c, const Options& o) {
  const auto d = static_cast<std::size_t>(o.dim);
  std::vector<std::int64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::int64_t>(i + 1);
  for (const std::string& kind : o.kinds) {
    const IndexConfig config = config_for(kind);
    const auto started = Clock::now();
    std::vector<float> sample;
    if (kind == "ivf_pq") {
      const std::size_t stride = std::max<std::size_t>(n / 65536, 1);
      for (std::size_t i = 0; i < n; i += stride) {
        sample.insert(sample.end(), c.vectors.begin() + static_cast<std::ptrdiff_t>(i * d),
                      c.vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * d));
      }
    }
    auto index = make_vector_index(kind, config, o.dim, n, sample);
    for (std::size_t first = 0; first < n; first += 4096) {
      const std::size_t count = std::min<std::size_t>(4096, n - first);
      index->add(std::span(ids).subspan(first, count),
                 std::span<const float>(c.vectors).subspan(first * d, count * d));
    }
    const double build_s = seconds_since(started);
    std::vector<double> ms;
    double rec = 0;
    for (int q = 0; q < o.queries; ++q) {
      const std::span<const float> query(c.queries.data() + static_cast<std::size_t>(q) * d, d);
      const auto t = Clock::now();
      auto hits = index->search(query, index->approximate_scores() ? 100 : 10, {});
      if (index->approximate_scores()) {
        for (Scored& h : hits) {
          const float* v = c.vectors.data() + static_cast<std::size_t>(h.id - 1) * d;
          float dot = 0;
          for (std::size_t j = 0; j < d; ++j) dot += v[j] * query[j];
          h.score = dot;
        }
        std::sort(hits.begin(), hits.end(),
                  [](const Scored& a, const Scored& b) { return a.score > b.score; });
        hits.resize(std::min<std::size_t>(hits.size(), 10));
      }
      ms.push_back(seconds_since(t) * 1000);
      std::vector<std::int64_t> got;
      for (const Scored& h : hits) got.push_back(h.id);
      rec += recall(got, c.truth[static_cast<std::size_t>(q)]);
    }
    print_row("index", kind, build_s,
              static_cast<double>(index->memory_bytes()) / static_cast<double>(n), percentiles(ms),
              rec / o.queries, {});
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--sizes") {
      o.sizes.clear();
      for (const auto& s : split(value())) o.sizes.push_back(std::stoul(s));
    } else if (arg == "--dim") {
      o.dim = std::stoi(value());
    } else if (arg == "--queries") {
      o.queries = std::stoi(value());
    } else if (arg == "--kinds") {
      o.kinds = split(value());
    } else if (arg == "--index-only") {
      o.index_only = true;
    } else if (arg == "--dir") {
      o.dir = value();
    } else {
      std::fprintf(stderr,
                   "usage: a4ps_bench_memory [--sizes N,N] [--dim D] [--queries Q] "
                   "[--kinds flat,hnsw,ivf_pq] [--index-only] [--dir DIR]\n");
      return 2;
    }
  }
  std::printf("memory index benchmark: %d-d unit vectors, %d queries, %u threads\n", o.dim,
              o.queries, std::thread::hardware_concurrency());
  for (const std::size_t n : o.sizes) {
    const Corpus c = make_corpus(n, o);
    std::printf(
        "n = %zu\n  faiss  IndexFlatIP add %.2f s  RAM %d B/vector  search p50 %7.3f ms "
        "p95 %7.3f ms  recall@10 1.000 (the reference)\n",
        n, c.faiss_add_s, o.dim * 4, c.faiss_search.p50_ms, c.faiss_search.p95_ms);
    if (o.index_only) {
      bench_index_only(n, c, o);
    } else {
      bench_store(n, c, o);
    }
  }
  std::filesystem::remove_all(o.dir);
}
