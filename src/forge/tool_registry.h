// forge/tool_registry: the tools the forge made, in the image. Files under IMAGE/tools/NAME/
// (every version in versions/N/, the active one also at the top for people to read) and rows
// in state.db (tools, tool_versions; docs/formats/tools.md). state.db is the truth: a version
// exists once its row commits; its files are written and fsynced before that, so a crash
// leaves at most an unreferenced versions/N directory, overwritten by the next add. The
// code's SHA-256 is checked against the row before every run (files()).
//
// Thread-safe: one mutex serialises the registry's connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "forge/harness.h"
#include "forge/tool_spec.h"

namespace a4ps::sql {
class Database;
}

namespace a4ps::forge {

// Who made a version, and why.
struct Provenance {
  std::string capability;  // the request it answers
  std::string author;      // the persona that wrote it, e.g. "BRICK"
  std::string thread_id;   // the run that forged it ("" from the CLI)
  std::string run_id;
  int attempts = 1;
};

struct ToolVersion {
  ToolSpec spec;  // code and tests included
  int version = 0;
  std::string code_sha256;
  std::string tests_sha256;
  Provenance provenance;
  std::int64_t created_ms = 0;
  bool active = false;

  // The manifest (tools/NAME/manifest.json) and `--json` shape; with_code adds the sources.
  nlohmann::json to_json(bool with_code = false) const;
};

class ToolRegistry {
 public:
  // Opens the registry of the image at `image_dir` (its state.db must be migrated).
  static std::unique_ptr<ToolRegistry> open(const std::filesystem::path& image_dir);
  ~ToolRegistry();

  // Stores `spec` as the next version of spec.name (1 for a new name) and makes it active.
  // Throws kInvalidArgument for an invalid name.
  ToolVersion add(const ToolSpec& spec, const Provenance& provenance);

  // The active version of every tool that is not removed, by name.
  std::vector<ToolVersion> list() const;
  // The active version of `name`; nullopt when there is none (unknown or removed).
  std::optional<ToolVersion> find(const std::string& name) const;
  // Same; throws kNotFound naming the tool and the known ones.
  ToolVersion get(const std::string& name) const;
  // Version `number` of `name`, active or not. Throws kNotFound.
  ToolVersion version(const std::string& name, int number) const;
  // Every version of `name`, oldest first (empty when unknown).
  std::vector<ToolVersion> versions(const std::string& name) const;
  // Whether `name` was ever registered (removed names stay taken, so history stays unique).
  bool taken(const std::string& name) const;

  // Makes version `to` (default: the one before the active one) active. Throws kNotFound
  // (unknown tool or version) or kFailedPrecondition (no earlier version).
  ToolVersion rollback(const std::string& name, std::optional<int> to = std::nullopt);
  // Takes `name` out of the catalogue; its versions stay on disk and in state.db.
  void remove(const std::string& name);

  // The version's files, read from versions/N/ after checking their SHA-256 against the
  // registry. Throws kDataLoss when a file is missing or was changed outside A4PS.
  ToolFiles files(const ToolVersion& version) const;

  // The active version's manifest with its checked `code` and `tests` and the list of
  // `versions`: what `a4ps tools show` and GET /v1/tools/{name} print. Throws like get() and
  // files().
  nlohmann::json describe(const std::string& name) const;

  // The tools as the personas see them: name, signature and docstring, one block each.
  std::string catalogue() const;

 private:
  ToolRegistry(std::unique_ptr<sql::Database> db, std::filesystem::path tools_dir);
  std::vector<ToolVersion> query_versions(const std::string& where_sql,
                                          const std::string& name) const;
  std::vector<ToolVersion> versions_locked(const std::string& where_sql,
                                           const std::string& name) const;  // mu_ held
  void write_version_files(const ToolVersion& v) const;
  void insert_version_locked(const ToolVersion& v);       // mu_ held
  ToolSpec files_spec(const ToolVersion& version) const;  // spec with its checked sources
  void write_active_copy(const ToolVersion& v) const;

  const std::filesystem::path tools_dir_;
  mutable std::mutex mu_;
  std::unique_ptr<sql::Database> db_;  // guarded by mu_
};

}  // namespace a4ps::forge
