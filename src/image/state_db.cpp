#include "image/state_db.h"

#include <sqlite3.h>

#include <memory>

#include "core/error.h"

namespace a4ps {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

void exec(sqlite3* db, const std::string& sql, const std::string& what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string reason = message != nullptr ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw Error(ErrorCode::kDataLoss, what + ": " + reason);
  }
}

int user_version(sqlite3* db, const std::string& where) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) != SQLITE_OK) {
    throw Error(ErrorCode::kDataLoss, where + ": not a readable SQLite database (" +
                                          std::string(sqlite3_errmsg(db)) + ")");
  }
  int version = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW) version = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return version;
}

}  // namespace

const std::vector<Migration>& state_db_migrations() {
  static const std::vector<Migration> migrations = {
      {1, "image metadata",
       "CREATE TABLE image_meta ("
       "  key TEXT PRIMARY KEY,"
       "  value TEXT NOT NULL"
       ") STRICT;"
       "INSERT INTO image_meta(key, value) VALUES ('created_by', 'a4ps');"},
  };
  return migrations;
}

int current_state_db_version() {
  return state_db_migrations().back().to_version;
}

int migrate_state_db(const std::filesystem::path& path, const std::vector<Migration>& migrations) {
  const std::string where = path.string();
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(where.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    throw Error(ErrorCode::kUnavailable,
                where + ": cannot open (" + std::string(sqlite3_errstr(rc)) + ")");
  }
  sqlite3_busy_timeout(db.get(), 5000);
  int version = user_version(db.get(), where);
  const int newest = migrations.empty() ? 0 : migrations.back().to_version;
  if (version > newest) {
    throw Error(ErrorCode::kFailedPrecondition,
                where + ": schema version " + std::to_string(version) +
                    " was written by a newer A4PS (this build knows up to " +
                    std::to_string(newest) + ")");
  }
  exec(db.get(), "PRAGMA journal_mode=WAL", where + ": cannot switch to WAL");
  for (const Migration& m : migrations) {
    if (m.to_version <= version) continue;
    // Each migration and its version bump commit together, or not at all.
    exec(db.get(),
         "BEGIN IMMEDIATE;" + m.sql + "PRAGMA user_version = " + std::to_string(m.to_version) +
             ";COMMIT;",
         where + ": migration to schema " + std::to_string(m.to_version) + " (" + m.description +
             ") failed");
    version = m.to_version;
  }
  return version;
}

}  // namespace a4ps
