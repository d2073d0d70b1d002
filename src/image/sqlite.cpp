#include "image/sqlite.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>

#include "core/error.h"

namespace a4ps::sql {
namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& where, int rc) {
  const std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const ErrorCode code = (rc & 0xff) == SQLITE_CONSTRAINT ? ErrorCode::kFailedPrecondition
                         : (rc & 0xff) == SQLITE_BUSY     ? ErrorCode::kUnavailable
                                                          : ErrorCode::kDataLoss;
  throw Error(code, where + ": " + reason);
}

// `path` as the path of a file: URI, percent-encoding all but unreserved characters and '/'.
std::string file_uri(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += c;
    } else {
      uri += '%';
      uri += kHex[u >> 4];
      uri += kHex[u & 0xF];
    }
  }
  return uri;
}

// A reader of a WAL database must create its -shm file when none exists, which a directory it
// may not write forbids ("attempt to write a readonly database"). When there is also no -wal
// file, every committed transaction is in the database file itself, and nobody who cannot write
// the directory can add one, so the file can be read as immutable: without the shared memory,
// and without locks.
bool needs_immutable_open(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path file(path);
  if (std::filesystem::exists(path + "-wal", ec) || std::filesystem::exists(path + "-shm", ec)) {
    return false;
  }
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  return access(dir.c_str(), W_OK) != 0;
}

}  // namespace

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::nullopt_t) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value ? bind(index, *value) : bind(index, std::nullopt);
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind(index, std::nullopt);
}

Statement& Statement::bind_real(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

double Statement::real(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return {};
  return std::string(static_cast<const char*>(data),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(db_, where_, rc);
}

void Statement::run() {
  while (step()) {
  }
}

std::int64_t Statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  if (data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::unique_ptr<Database> Database::open(const std::string& path, OpenMode mode) {
  sqlite3* raw = nullptr;
  int flags = mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  std::string name = path;
  if (mode == OpenMode::kReadOnly && path != ":memory:" && needs_immutable_open(path)) {
    name = file_uri(path) + "?mode=ro&immutable=1";
    flags |= SQLITE_OPEN_URI;
  }
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Database> db(new Database(raw, path));
  if (rc != SQLITE_OK) {
    throw Error(ErrorCode::kUnavailable,
                path + ": cannot open (" + std::string(sqlite3_errstr(rc)) + ")");
  }
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Database::~Database() {
  statements_.clear();  // finalize before closing
  sqlite3_close(db_);
}

void Database::exec(const std::string& sql, const std::string& what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    const std::string reason = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(ErrorCode::kDataLoss, path_ + ": " + what + ": " + reason);
  }
}

Query Database::prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(db_, path_ + ": preparing \"" + sql.substr(0, 60) + "\"", rc);
    it = statements_
             .emplace(sql, std::make_unique<Statement>(db_, stmt,
                                                       path_ + ": \"" + sql.substr(0, 60) + "\""))
             .first;
  }
  return Query(it->second->reset());
}

std::int64_t Database::changes() const {
  return sqlite3_changes64(db_);
}

std::int64_t Database::last_insert_id() const {
  return sqlite3_last_insert_rowid(db_);
}

Transaction::Transaction(Database& db) : db_(db) {
  if (db_.depth_ == 0) {
    db_.prepare("BEGIN IMMEDIATE").run();
    db_.rollback_only_ = false;
  }
  ++db_.depth_;
}

Transaction::~Transaction() {
  if (done_) return;
  if (--db_.depth_ == 0) {
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  } else {
    db_.rollback_only_ = true;
  }
}

void Transaction::commit() {
  if (db_.depth_ > 1) {
    --db_.depth_;
    done_ = true;
    return;
  }
  if (db_.rollback_only_) {
    throw Error(ErrorCode::kInternal,
                db_.path_ + ": a part of this transaction failed; it was rolled back");
  }
  db_.prepare("COMMIT").run();
  --db_.depth_;
  done_ = true;
}

}  // namespace a4ps::sql
