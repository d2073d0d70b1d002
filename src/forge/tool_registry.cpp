#include "forge/tool_registry.h"

#include <algorithm>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "core/json_text.h"
#include "image/sqlite.h"

namespace a4ps::forge {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kVersionColumns =
    "v.name, v.version, v.code_sha256, v.tests_sha256, v.signature, v.docstring, v.examples, "
    "v.capability, v.author, v.thread_id, v.run_id, v.attempts, v.created_ms, "
    "(t.active_version = v.version AND t.removed = 0) ";

fs::path version_dir(const fs::path& tools_dir, const std::string& name, int version) {
  return tools_dir / name / "versions" / std::to_string(version);
}

ToolVersion version_from_row(const sql::Query& q) {
  ToolVersion v;
  v.spec.name = q.text(0);
  v.version = static_cast<int>(q.int64(1));
  v.code_sha256 = q.text(2);
  v.tests_sha256 = q.text(3);
  v.spec.signature = q.text(4);
  v.spec.docstring = q.text(5);
  v.spec.examples = json::parse(q.text(6), nullptr, false);
  if (v.spec.examples.is_discarded()) v.spec.examples = json::array();
  v.provenance.capability = q.text(7);
  v.provenance.author = q.text(8);
  v.provenance.thread_id = q.text(9);
  v.provenance.run_id = q.text(10);
  v.provenance.attempts = static_cast<int>(q.int64(11));
  v.created_ms = q.int64(12);
  v.active = q.int64(13) != 0;
  return v;
}

void check_name(const std::string& name) {
  const std::string why = invalid_tool_name(name);
  if (!why.empty()) throw_invalid_argument("tool name \"" + name + "\": " + why);
}

}  // namespace

json ToolVersion::to_json(bool with_code) const {
  json j = {{"name", spec.name},
            {"version", version},
            {"signature", spec.signature},
            {"docstring", spec.docstring},
            {"examples", spec.examples},
            {"code_sha256", code_sha256},
            {"tests_sha256", tests_sha256},
            {"capability", provenance.capability},
            {"author", provenance.author},
            {"thread", provenance.thread_id},
            {"run", provenance.run_id},
            {"attempts", provenance.attempts},
            {"created_ms", created_ms},
            {"active", active}};
  if (with_code) {
    j["code"] = spec.code;
    j["tests"] = spec.tests;
  }
  return j;
}

ToolRegistry::ToolRegistry(std::unique_ptr<sql::Database> db, fs::path tools_dir)
    : tools_dir_(std::move(tools_dir)), db_(std::move(db)) {}

ToolRegistry::~ToolRegistry() = default;

std::unique_ptr<ToolRegistry> ToolRegistry::open(const fs::path& image_dir) {
  auto db = sql::Database::open((image_dir / "state.db").string());
  return std::unique_ptr<ToolRegistry>(new ToolRegistry(std::move(db), image_dir / "tools"));
}

ToolVersion ToolRegistry::add(const ToolSpec& spec, const Provenance& provenance) {
  check_name(spec.name);
  ToolVersion v;
  v.spec = spec;
  v.code_sha256 = sha256_hex(spec.code);
  v.tests_sha256 = sha256_hex(spec.tests);
  v.provenance = provenance;
  v.created_ms = unix_ms();
  v.active = true;
  std::lock_guard lock(mu_);
  // The same code registered again by the same run is the same version: a run resumed after a
  // crash between this commit and its journal entry does not add a duplicate.
  for (const ToolVersion& old : versions_locked("v.name = ?", spec.name)) {
    if (!provenance.run_id.empty() && old.provenance.run_id == provenance.run_id &&
        old.code_sha256 == v.code_sha256 && old.tests_sha256 == v.tests_sha256) {
      return old;
    }
    v.version = std::max(v.version, old.version);
  }
  ++v.version;
  write_version_files(v);  // first, durably: the row is what makes the version exist
  insert_version_locked(v);
  write_active_copy(v);
  return v;
}

void ToolRegistry::write_version_files(const ToolVersion& v) const {
  const fs::path dir = version_dir(tools_dir_, v.spec.name, v.version);
  fs::create_directories(dir);
  write_file_durably(dir / "tool.py", v.spec.code);
  write_file_durably(dir / "test_tool.py", v.spec.tests);
  write_file_durably(dir / "manifest.json", v.to_json().dump(2) + "\n");
}

void ToolRegistry::insert_version_locked(const ToolVersion& v) {
  sql::Transaction txn(*db_);
  db_->prepare(
         "INSERT INTO tool_versions (name, version, code_sha256, tests_sha256, signature, "
         "docstring, examples, capability, author, thread_id, run_id, attempts, created_ms) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, v.spec.name)
      .bind(2, std::int64_t{v.version})
      .bind(3, v.code_sha256)
      .bind(4, v.tests_sha256)
      .bind(5, v.spec.signature)
      .bind(6, v.spec.docstring)
      .bind(7, stored_json(v.spec.examples))
      .bind(8, v.provenance.capability)
      .bind(9, v.provenance.author)
      .bind(10, v.provenance.thread_id)
      .bind(11, v.provenance.run_id)
      .bind(12, std::int64_t{v.provenance.attempts})
      .bind(13, v.created_ms)
      .run();
  db_->prepare(
         "INSERT INTO tools (name, active_version, removed, created_ms, updated_ms) "
         "VALUES (?1, ?2, 0, ?3, ?3) ON CONFLICT(name) DO UPDATE SET "
         "active_version = ?2, removed = 0, updated_ms = ?3")
      .bind(1, v.spec.name)
      .bind(2, std::int64_t{v.version})
      .bind(3, v.created_ms)
      .run();
  txn.commit();
}

std::vector<ToolVersion> ToolRegistry::versions_locked(const std::string& where_sql,
                                                       const std::string& name) const {
  sql::Query q = db_->prepare(std::string("SELECT ") + kVersionColumns +
                              "FROM tool_versions v JOIN tools t ON t.name = v.name WHERE " +
                              where_sql + " ORDER BY v.name, v.version");
  if (!name.empty()) q.bind(1, name);
  std::vector<ToolVersion> out;
  while (q.step()) out.push_back(version_from_row(q));
  return out;
}

std::vector<ToolVersion> ToolRegistry::query_versions(const std::string& where_sql,
                                                      const std::string& name) const {
  std::lock_guard lock(mu_);
  return versions_locked(where_sql, name);
}

std::vector<ToolVersion> ToolRegistry::list() const {
  return query_versions("t.removed = 0 AND v.version = t.active_version", "");
}

std::optional<ToolVersion> ToolRegistry::find(const std::string& name) const {
  auto found =
      query_versions("v.name = ? AND t.removed = 0 AND v.version = t.active_version", name);
  if (found.empty()) return std::nullopt;
  return found.front();
}

ToolVersion ToolRegistry::get(const std::string& name) const {
  if (auto v = find(name)) return *v;
  std::string known;
  for (const ToolVersion& v : list()) known += (known.empty() ? "" : ", ") + v.spec.name;
  throw_not_found("tool \"" + name + "\": no such tool" +
                  (taken(name) ? " (it was removed; `a4ps tools rollback` restores it)" : "") +
                  "; known tools: " + (known.empty() ? "none" : known));
}

ToolVersion ToolRegistry::version(const std::string& name, int number) const {
  for (ToolVersion& v : versions(name)) {
    if (v.version == number) return v;
  }
  throw_not_found("tool \"" + name + "\": no version " + std::to_string(number));
}

std::vector<ToolVersion> ToolRegistry::versions(const std::string& name) const {
  return query_versions("v.name = ?", name);
}

bool ToolRegistry::taken(const std::string& name) const {
  std::lock_guard lock(mu_);
  sql::Query q = db_->prepare("SELECT 1 FROM tools WHERE name = ?");
  q.bind(1, name);
  return q.step();
}

ToolVersion ToolRegistry::rollback(const std::string& name, std::optional<int> to) {
  std::lock_guard lock(mu_);
  const std::vector<ToolVersion> all = versions_locked("v.name = ?", name);
  if (all.empty()) throw_not_found("tool \"" + name + "\": no such tool");
  int active = 0;
  bool removed = false;
  {
    sql::Query q = db_->prepare("SELECT active_version, removed FROM tools WHERE name = ?");
    q.bind(1, name);
    if (q.step()) {
      active = static_cast<int>(q.int64(0));
      removed = q.int64(1) != 0;
    }
  }
  // A removed tool comes back at the version it had; an active one goes one back.
  const int target = to.value_or(removed ? active : active - 1);
  if (!to && target < 1) {
    throw Error(ErrorCode::kFailedPrecondition,
                "tool \"" + name + "\": version " + std::to_string(active) +
                    " is the first; there is no earlier version to roll back to");
  }
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const ToolVersion& v) { return v.version == target; });
  if (it == all.end()) {
    throw_not_found("tool \"" + name + "\": no version " + std::to_string(target) + " (it has 1.." +
                    std::to_string(all.back().version) + ")");
  }
  ToolVersion v = *it;
  v.spec = files_spec(v);  // kDataLoss before anything changes when its files were altered
  v.active = true;
  db_->prepare("UPDATE tools SET active_version = ?, removed = 0, updated_ms = ? WHERE name = ?")
      .bind(1, std::int64_t{target})
      .bind(2, unix_ms())
      .bind(3, name)
      .run();
  write_active_copy(v);
  return v;
}

void ToolRegistry::remove(const std::string& name) {
  get(name);  // kNotFound naming the known tools
  std::lock_guard lock(mu_);
  db_->prepare("UPDATE tools SET removed = 1, updated_ms = ? WHERE name = ?")
      .bind(1, unix_ms())
      .bind(2, name)
      .run();
  std::error_code ec;
  for (const char* file : {"tool.py", "test_tool.py", "manifest.json"}) {
    fs::remove(tools_dir_ / name / file, ec);
  }
}

ToolFiles ToolRegistry::files(const ToolVersion& version) const {
  const fs::path dir = version_dir(tools_dir_, version.spec.name, version.version);
  ToolFiles out{version.spec.name, {}, {}};
  const auto checked = [&](const char* file, const std::string& expected) {
    std::string text;
    try {
      text = read_file(dir / file);
    } catch (const Error& e) {
      throw Error(ErrorCode::kDataLoss, "tool \"" + version.spec.name + "\" version " +
                                            std::to_string(version.version) + ": " + e.what());
    }
    const std::string actual = sha256_hex(text);
    if (actual != expected) {
      throw Error(ErrorCode::kDataLoss,
                  (dir / file).string() + " was changed outside A4PS: its SHA-256 is " +
                      actual.substr(0, 16) + "…, the registry holds " + expected.substr(0, 16) +
                      "…; refusing to run it (`a4ps tools rollback` or a new forge replaces it)");
    }
    return text;
  };
  out.code = checked("tool.py", version.code_sha256);
  out.tests = checked("test_tool.py", version.tests_sha256);
  return out;
}

ToolSpec ToolRegistry::files_spec(const ToolVersion& version) const {
  const ToolFiles f = files(version);
  ToolSpec spec = version.spec;
  spec.code = f.code;
  spec.tests = f.tests;
  return spec;
}

json ToolRegistry::describe(const std::string& name) const {
  ToolVersion v = get(name);
  v.spec = files_spec(v);
  json out = v.to_json(/*with_code=*/true);
  out["versions"] = json::array();
  for (const ToolVersion& each : versions(name)) out["versions"].push_back(each.version);
  return out;
}

void ToolRegistry::write_active_copy(const ToolVersion& v) const {
  const fs::path dir = tools_dir_ / v.spec.name;
  write_file_durably(dir / "tool.py", v.spec.code);
  write_file_durably(dir / "test_tool.py", v.spec.tests);
  write_file_durably(dir / "manifest.json", v.to_json().dump(2) + "\n");
}

std::string ToolRegistry::catalogue() const {
  std::string text;
  for (const ToolVersion& v : list()) {
    text += "- " + v.spec.name + ": " + v.spec.signature + "\n  " + v.spec.docstring + "\n";
  }
  return text;
}

}  // namespace a4ps::forge
