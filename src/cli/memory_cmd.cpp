// a4ps memory add|search|forget|stats|reindex
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "memory/ingest.h"
#include "memory/memory_store.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

// The image and its memory store for one command.
struct MemoryCommand {
  explicit MemoryCommand(const GlobalOptions& options) : rt(open_runtime(options)) {
    rt->on_load_progress(load_progress_printer());
    store = &rt->memory();
  }

  std::unique_ptr<runtime::Runtime> rt;
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
  memory.text = checked_utf8(a.text, "the text");
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
  const auto hits = m.store->search(checked_utf8(a.query, "the query"), so);
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

// The files the arguments name: a file as it is (extract_text judges it), a directory as the
// importable files under it, recursively, in name order (hidden entries skipped; how many
// files of other formats were passed over is said once per directory).
std::vector<std::filesystem::path> files_to_import(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const std::string& arg : paths) {
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      files.emplace_back(arg);
      continue;
    }
    std::vector<fs::path> found;
    size_t other = 0;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw_invalid_argument(arg + ": cannot read this directory (" + ec.message() + ")");
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const fs::path& path = it->path();
      if (path.filename().string().starts_with(".")) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      if (memory::is_importable(path)) {
        found.push_back(path);
      } else {
        ++other;
      }
    }
    std::sort(found.begin(), found.end());
    if (other > 0) {
      log::warn(arg + ": skipped " + std::to_string(other) + " file(s) of other formats (import " +
                "reads " + memory::importable_extensions() + ")");
    }
    if (found.empty()) {
      log::warn(arg + ": a directory with no file import reads (" +
                memory::importable_extensions() + ")");
    }
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

struct Prepared {
  std::string path;
  std::vector<memory::NewMemory> memories;
};

// The file read and cut into memories; throws a4ps::Error naming the file.
Prepared prepare_file(const std::filesystem::path& file, const std::string& ns) {
  const std::string path = file.string();
  const std::string text = memory::extract_text(file);
  Prepared p{path, {}};
  const auto chunks = memory::chunk_text(text);
  for (size_t i = 0; i < chunks.size(); ++i) {
    memory::NewMemory m;
    m.text = chunks[i].text;
    m.namespace_path = ns.empty() ? namespace_for(file) : ns;
    m.source_kind = "document";
    m.source = path;
    m.metadata = {{"chunk", i + 1}, {"chunks", chunks.size()}, {"offset", chunks[i].offset}};
    p.memories.push_back(std::move(m));
  }
  if (p.memories.empty()) throw_invalid_argument(path + ": no text to import");
  return p;
}

json store_file(memory::MemoryStore& store, const Prepared& f) {
  const bool tty = stderr_is_terminal();
  const auto results = store.add_many(f.memories, [&](size_t done, size_t total) {
    if (tty || done == total) {
      std::fprintf(stderr, "%s%s: embedded %zu of %zu chunks%s", tty ? "\r\033[K" : "",
                   f.path.c_str(), done, total, done == total ? "\n" : "");
    }
  });
  const auto duplicates = static_cast<size_t>(std::count_if(
      results.begin(), results.end(), [](const memory::AddResult& r) { return r.duplicate; }));
  return {{"file", f.path},
          {"namespace", f.memories.front().namespace_path},
          {"chunks", results.size()},
          {"new", results.size() - duplicates},
          {"duplicates", duplicates}};
}

// Every file is read and chunked before the image is opened; a file that cannot be read is
// reported and passed over, the others are stored (each in one transaction), and the command
// then fails with the first bad file's error code.
void import_files(const GlobalOptions& options, const ImportArgs& a) {
  std::vector<Prepared> files;
  json summary = json::array();
  std::optional<Error> first_problem;
  for (const std::filesystem::path& file : files_to_import(a.paths)) {
    try {
      files.push_back(prepare_file(file, a.ns));
    } catch (const Error& e) {
      log::error(std::string(e.what()) + " (not imported)");
      summary.push_back({{"file", file.string()}, {"error", e.what()}});
      if (!first_problem) first_problem = e;
    }
  }
  if (!files.empty()) {
    MemoryCommand m(options);
    for (const Prepared& f : files) summary.push_back(store_file(*m.store, f));
  }
  if (a.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    for (const json& f : summary) {
      if (f.contains("error")) continue;
      std::cout << f["file"].get<std::string>() << ": " << f["chunks"].get<size_t>()
                << " chunks in " << f["namespace"].get<std::string>() << " ("
                << f["new"].get<size_t>() << " new, " << f["duplicates"].get<size_t>()
                << " already remembered)\n";
    }
  }
  if (first_problem) {
    const size_t bad = summary.size() - files.size();
    throw Error(first_problem->code(),
                std::to_string(bad) + " of " + std::to_string(summary.size()) +
                    " file(s) not imported; the first: " + first_problem->what());
  }
  if (summary.empty()) throw_invalid_argument("memory import: no file to import");
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
  search_cmd->add_option("--k", search_args->k, "How many hits (default 5)")->check(at_least(1));
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
      "each file is stored whole or not at all. A file that cannot be read is reported and "
      "passed over (the exit code is then its error's)");
  import_cmd
      ->add_option("paths", import_args->paths,
                   "Files (.txt .text .md .markdown .rst .html .htm .pdf) or directories (their "
                   "files of those formats, recursively)")
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
