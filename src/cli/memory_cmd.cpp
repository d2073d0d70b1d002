// a4ps memory add|search|forget|stats|reindex
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>

#include "cli/graphs.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "memory/ingest.h"
#include "memory/memory_store.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

// The image, its models and its memory store for one command. Not copied or moved: the
// runtime refers to the image's config.
struct MemoryCommand {
  explicit MemoryCommand(const GlobalOptions& options)
      : opened(open_image_for_writing(options)),
        runtime(options, opened.config, opened.image->dir()) {
    runtime.on_load_progress(load_progress_printer());
    store = &runtime.memory();
  }
  MemoryCommand(const MemoryCommand&) = delete;
  MemoryCommand& operator=(const MemoryCommand&) = delete;

  WritableImage opened;
  GraphRuntime runtime;
  memory::MemoryStore* store = nullptr;
};

struct AddArgs {
  std::string text;
  std::string ns;
  double importance = 0.5;
  bool json = false;
};

struct SearchArgs {
  std::string query;
  int k = 5;
  std::string ns;
  bool json = false;
};

void add(const GlobalOptions& options, const AddArgs& a) {
  MemoryCommand m(options);
  memory::NewMemory memory;
  memory.text = valid_utf8(a.text);
  memory.namespace_path = a.ns;
  memory.importance = a.importance;
  const memory::AddResult r = m.store->add(memory);
  if (a.json) {
    std::cout << json{{"id", r.id}, {"duplicate", r.duplicate}}.dump(2) << "\n";
  } else {
    std::cout << (r.duplicate ? "already remembered as memory " : "remembered as memory ") << r.id
              << "\n";
  }
}

void search(const GlobalOptions& options, const SearchArgs& a) {
  MemoryCommand m(options);
  memory::SearchOptions so;
  so.k = a.k;
  so.namespace_prefix = a.ns;
  const auto hits = m.store->search(valid_utf8(a.query), so);
  if (a.json) {
    json out = json::array();
    for (const auto& h : hits) out.push_back(memory::hit_json(h));
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (hits.empty()) std::cout << "nothing remembered matches\n";
  for (const auto& h : hits) {
    std::printf(
        "[%lld] %.4f  (keyword %s, vector %s)  %s%s%s\n  %s\n", static_cast<long long>(h.id),
        h.score, h.keyword_rank ? std::to_string(*h.keyword_rank).c_str() : "-",
        h.vector_rank ? std::to_string(*h.vector_rank).c_str() : "-",
        h.namespace_path.empty() ? "" : (h.namespace_path + " ").c_str(), h.source_kind.c_str(),
        h.source.empty() ? "" : (": " + h.source).c_str(), h.text.substr(0, 300).c_str());
  }
}

void stats(const GlobalOptions& options, bool as_json) {
  MemoryCommand m(options);
  const memory::MemoryStats s = m.store->stats();
  if (as_json) {
    std::cout << memory::stats_json(s).dump(2) << "\n";
    return;
  }
  std::cout << s.live << " memories (" << s.forgotten << " forgotten), " << s.embedded
            << " embedded by " << s.embedder << " (dimension " << s.dimension << ")\n"
            << "vector index: " << s.index.kind << ", " << s.index.vectors << " vectors, "
            << (s.index.index_bytes + 512 * 1024) / (1024 * 1024) << " MiB; " << s.index.loaded
            << "\n";
  if (s.embedded < s.live) {
    std::cout << s.live - s.embedded
              << " have no vector of this embedder (it changed?): run a4ps memory reindex\n";
  }
}

// "docs/" and the file's stem with anything a namespace may not hold replaced by '-'.
std::string namespace_for(const std::filesystem::path& file) {
  std::string stem = file.stem().string();
  for (char& c : stem) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-')
      c = '-';
  }
  return "docs/" + (stem.empty() ? std::string("document") : stem);
}

struct ImportArgs {
  std::vector<std::string> paths;
  std::string ns;
  bool json = false;
};

void import_files(const GlobalOptions& options, const ImportArgs& a) {
  // Every file is read and chunked before anything is stored: a bad file stops the import
  // before it writes.
  struct Prepared {
    std::string path;
    std::vector<memory::NewMemory> memories;
  };
  std::vector<Prepared> files;
  for (const std::string& path : a.paths) {
    const std::string text = memory::extract_text(path);
    Prepared p{path, {}};
    const auto chunks = memory::chunk_text(text);
    for (size_t i = 0; i < chunks.size(); ++i) {
      memory::NewMemory m;
      m.text = chunks[i].text;
      m.namespace_path = a.ns.empty() ? namespace_for(path) : a.ns;
      m.source_kind = "document";
      m.source = path;
      m.metadata = {{"chunk", i + 1}, {"chunks", chunks.size()}, {"offset", chunks[i].offset}};
      p.memories.push_back(std::move(m));
    }
    if (p.memories.empty()) throw_invalid_argument(path + ": no text to import");
    files.push_back(std::move(p));
  }
  MemoryCommand m(options);
  const bool tty = stderr_is_terminal();
  json summary = json::array();
  for (const Prepared& f : files) {
    const auto results = m.store->add_many(f.memories, [&](size_t done, size_t total) {
      if (tty || done == total) {
        std::fprintf(stderr, "%s%s: embedded %zu of %zu chunks%s", tty ? "\r\033[K" : "",
                     f.path.c_str(), done, total, done == total ? "\n" : "");
      }
    });
    const auto duplicates = static_cast<size_t>(std::count_if(
        results.begin(), results.end(), [](const memory::AddResult& r) { return r.duplicate; }));
    summary.push_back({{"file", f.path},
                       {"namespace", f.memories.front().namespace_path},
                       {"chunks", results.size()},
                       {"new", results.size() - duplicates},
                       {"duplicates", duplicates}});
  }
  if (a.json) {
    std::cout << summary.dump(2) << "\n";
    return;
  }
  for (const json& f : summary) {
    std::cout << f["file"].get<std::string>() << ": " << f["chunks"].get<size_t>() << " chunks in "
              << f["namespace"].get<std::string>() << " (" << f["new"].get<size_t>() << " new, "
              << f["duplicates"].get<size_t>() << " already remembered)\n";
  }
}

}  // namespace

void add_memory_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* memory = app.add_subcommand(
      "memory", "The image's episodic memory: remember, search (keyword + vector), forget");
  memory->require_subcommand(1);
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add_cmd = memory->add_subcommand("add", "Remember a text");
  add_cmd->add_option("text", add_args->text, "What to remember (at most 64 KiB)")->required();
  add_cmd->add_option("--namespace", add_args->ns, "A path to file it under, e.g. notes/atlas");
  add_cmd->add_option("--importance", add_args->importance, "0 to 1 (default 0.5)");
  add_cmd->add_flag("--json", add_args->json, "Print JSON");
  add_cmd->callback([&options, add_args] { add(options, *add_args); });

  auto search_args = std::make_shared<SearchArgs>();
  CLI::App* search_cmd = memory->add_subcommand(
      "search", "Hybrid search: BM25 and vector rankings fused by reciprocal rank fusion");
  search_cmd->add_option("query", search_args->query, "What to look for")->required();
  search_cmd->add_option("--k", search_args->k, "How many hits (default 5)")
      ->check(CLI::PositiveNumber);
  search_cmd->add_option("--namespace", search_args->ns, "Only memories under this path");
  search_cmd->add_flag("--json", search_args->json, "Print JSON with each hit's score parts");
  search_cmd->callback([&options, search_args] { search(options, *search_args); });

  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* forget = memory->add_subcommand("forget", "Forget a memory (it leaves every index)");
  forget->add_option("id", *id, "The memory's id (see memory search)")->required();
  forget->callback([&options, id] {
    MemoryCommand m(options);
    m.store->forget(*id);
    std::cout << "forgot memory " << *id << "\n";
  });

  auto import_args = std::make_shared<ImportArgs>();
  CLI::App* import_cmd = memory->add_subcommand(
      "import",
      "Remember documents: plain text and Markdown, HTML, and PDF, cut into overlapping chunks; "
      "each file is stored whole or not at all");
  import_cmd->add_option("paths", import_args->paths, "Files (.txt .md .rst .html .htm .pdf)")
      ->required();
  import_cmd->add_option("--namespace", import_args->ns,
                         "Where to file them (default: docs/FILE-STEM for each)");
  import_cmd->add_flag("--json", import_args->json, "Print JSON");
  import_cmd->callback([&options, import_args] { import_files(options, *import_args); });

  auto as_json = std::make_shared<bool>(false);
  CLI::App* stats_cmd =
      memory->add_subcommand("stats", "How much is remembered, and by which embedder");
  stats_cmd->add_flag("--json", *as_json, "Print JSON");
  stats_cmd->callback([&options, as_json] { stats(options, *as_json); });

  memory->add_subcommand("reindex", "Embed every memory again (after the embedding model changed)")
      ->callback([&options] {
        MemoryCommand m(options);
        m.store->reindex(count_progress_printer("reindexed"));
        std::cout << "reindexed: " << m.store->stats().embedded << " memories\n";
      });
}

}  // namespace a4ps::cli
