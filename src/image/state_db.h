// image/state_db: state.db, the image's SQLite database (WAL) and the single source of truth.
// Its schema is versioned with PRAGMA user_version and moved forward by explicit migrations,
// each in one transaction (docs/formats/state-db.md).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

struct sqlite3;

namespace a4ps {

struct Migration {
  int to_version;
  std::string description;
  std::string sql;
};

// The migrations of this build, in order; the last one's version is the current schema.
const std::vector<Migration>& state_db_migrations();
int current_state_db_version();

// Opens (creating if needed) `path` in WAL mode and applies every migration newer than its
// user_version. Returns the version it is at. Throws a4ps::Error kDataLoss (not a database,
// corrupt), kFailedPrecondition (made by a newer A4PS: a version above this build's).
int migrate_state_db(const std::filesystem::path& path,
                     const std::vector<Migration>& migrations = state_db_migrations());

// The same on an open connection (`where` names it in errors), e.g. an in-memory database.
int migrate_connection(sqlite3* db, const std::string& where,
                       const std::vector<Migration>& migrations = state_db_migrations());

}  // namespace a4ps
