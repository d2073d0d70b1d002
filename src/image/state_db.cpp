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

// docs/formats/state-db.md explains every table and column.
constexpr const char* kGraphSchemaV2 = R"sql(
CREATE TABLE threads (
  id TEXT PRIMARY KEY,
  graph TEXT NOT NULL,
  channels TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  parent_thread TEXT,
  parent_checkpoint INTEGER,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE checkpoints (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  id INTEGER NOT NULL,
  run_id TEXT,
  step INTEGER NOT NULL,
  pending TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (thread_id, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE channel_items (
  thread_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  idx INTEGER NOT NULL,
  checkpoint_id INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (thread_id, channel, idx)
) STRICT;
CREATE TABLE channel_values (
  thread_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  checkpoint_id INTEGER NOT NULL,
  ord INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('full', 'patch')),
  value TEXT NOT NULL,
  PRIMARY KEY (thread_id, channel, checkpoint_id, ord)
) STRICT;
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  thread_id TEXT NOT NULL REFERENCES threads(id),
  status TEXT NOT NULL,
  input TEXT NOT NULL,
  steps INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  error_node TEXT,
  pid INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX runs_by_thread ON runs (thread_id, created_ms);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE events (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
) STRICT;
CREATE TABLE journal (
  thread_id TEXT NOT NULL,
  checkpoint_id INTEGER NOT NULL,
  node TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_id, node, kind, key)
) STRICT;
)sql";

// docs/formats/state-db.md, version 3.
constexpr const char* kMemorySchemaV3 = R"sql(
CREATE TABLE memories (
  id INTEGER PRIMARY KEY,
  namespace TEXT NOT NULL DEFAULT '',
  source_kind TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  content_hash TEXT NOT NULL,
  importance REAL NOT NULL DEFAULT 0.5,
  created_ms INTEGER NOT NULL,
  accessed_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX memories_live_by_hash ON memories (namespace, content_hash) WHERE deleted = 0;
CREATE INDEX memories_by_namespace ON memories (namespace);
CREATE TABLE memory_embeddings (
  memory_id INTEGER NOT NULL REFERENCES memories(id),
  model TEXT NOT NULL,
  dimension INTEGER NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (memory_id, model)
) STRICT;
CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='id');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories WHEN new.deleted = 0 BEGIN
  INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER memories_fts_forget AFTER UPDATE OF deleted ON memories
  WHEN old.deleted = 0 AND new.deleted = 1 BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
)sql";

// docs/formats/state-db.md, version 4.
constexpr const char* kToolSchemaV4 = R"sql(
CREATE TABLE tools (
  name TEXT PRIMARY KEY,
  active_version INTEGER NOT NULL,
  removed INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE tool_versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  code_sha256 TEXT NOT NULL,
  tests_sha256 TEXT NOT NULL,
  signature TEXT NOT NULL,
  docstring TEXT NOT NULL,
  examples TEXT NOT NULL,
  capability TEXT NOT NULL,
  author TEXT NOT NULL,
  thread_id TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (name, version)
) STRICT;
)sql";

// docs/formats/state-db.md, version 5.
constexpr const char* kGoalSchemaV5 = R"sql(
CREATE TABLE goals (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('synthesis', 'reflection', 'capability', 'user')),
  cause_event INTEGER,
  cause_topic TEXT NOT NULL DEFAULT '',
  theme TEXT NOT NULL,
  prompt TEXT NOT NULL,
  context TEXT NOT NULL DEFAULT '{}',
  priority INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed',
                                         'cancelled', 'expired')),
  attempts INTEGER NOT NULL DEFAULT 0,
  thread_id TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  budget_tokens INTEGER NOT NULL,
  chain_depth INTEGER NOT NULL DEFAULT 0,
  parent_goal INTEGER REFERENCES goals(id),
  merged INTEGER NOT NULL DEFAULT 0,
  result TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX goals_by_status ON goals (status, priority DESC, created_ms, id);
CREATE INDEX goals_by_theme ON goals (kind, theme, status);
CREATE TABLE goal_runs (
  goal_id INTEGER NOT NULL REFERENCES goals(id),
  attempt INTEGER NOT NULL,
  thread_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER,
  outcome TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (goal_id, attempt)
) STRICT;
CREATE INDEX goal_runs_by_run ON goal_runs (run_id);
CREATE INDEX goal_runs_by_start ON goal_runs (started_ms);
CREATE TABLE motivator (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  event_cursor INTEGER NOT NULL,
  curiosity_ms INTEGER NOT NULL
) STRICT;
-- Events from before the Motivator existed are history, not goals.
INSERT INTO motivator (id, event_cursor, curiosity_ms)
  VALUES (1, (SELECT IFNULL(max(rowid), 0) FROM journal), 0);
)sql";

// docs/formats/state-db.md, version 6. SQLite cannot widen a CHECK constraint in place, so the
// goals table is rebuilt to admit the 'evolve' kind (ids, and so goal_runs' references, kept).
constexpr const char* kEvolveSchemaV6 = R"sql(
CREATE TABLE judgements (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  persona TEXT NOT NULL,
  codex_version INTEGER NOT NULL,
  rubric_sha256 TEXT NOT NULL,
  judges TEXT NOT NULL,
  score REAL NOT NULL,
  uncertain INTEGER NOT NULL,
  uncertain_reason TEXT NOT NULL DEFAULT '',
  golden INTEGER NOT NULL,
  turns TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  UNIQUE (run_id, persona, rubric_sha256)
) STRICT;
CREATE INDEX judgements_by_persona ON judgements (persona, golden, id);
CREATE TABLE datasets (
  persona TEXT NOT NULL,
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  n_train INTEGER NOT NULL,
  n_held_out INTEGER NOT NULL,
  judgements TEXT NOT NULL,
  newest_judgement INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (persona, version)
) STRICT;
CREATE TABLE adapters (
  persona TEXT NOT NULL,
  version INTEGER NOT NULL,
  dataset_version INTEGER NOT NULL,
  trainer TEXT NOT NULL,
  base_model TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  options TEXT NOT NULL,
  step_losses TEXT NOT NULL,
  held_out_losses TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('candidate', 'adopted', 'rejected', 'retired')),
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (persona, version)
) STRICT;
CREATE TABLE adoption_decisions (
  id INTEGER PRIMARY KEY,
  persona TEXT NOT NULL,
  version INTEGER,
  action TEXT NOT NULL CHECK (action IN ('adopt', 'reject', 'rollback')),
  baseline INTEGER,
  figures TEXT NOT NULL,
  reason TEXT NOT NULL,
  decided_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX decisions_by_persona ON adoption_decisions (persona, id);
CREATE TABLE adoptions (
  persona TEXT PRIMARY KEY,
  version INTEGER,
  decision_id INTEGER NOT NULL REFERENCES adoption_decisions(id),
  updated_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE goals_v6 (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('synthesis', 'reflection', 'capability', 'user', 'evolve')),
  cause_event INTEGER,
  cause_topic TEXT NOT NULL DEFAULT '',
  theme TEXT NOT NULL,
  prompt TEXT NOT NULL,
  context TEXT NOT NULL DEFAULT '{}',
  priority INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed',
                                         'cancelled', 'expired')),
  attempts INTEGER NOT NULL DEFAULT 0,
  thread_id TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  budget_tokens INTEGER NOT NULL,
  chain_depth INTEGER NOT NULL DEFAULT 0,
  parent_goal INTEGER REFERENCES goals(id),
  merged INTEGER NOT NULL DEFAULT 0,
  result TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) STRICT;
INSERT INTO goals_v6 SELECT * FROM goals;
DROP TABLE goals;
ALTER TABLE goals_v6 RENAME TO goals;
CREATE INDEX goals_by_status ON goals (status, priority DESC, created_ms, id);
CREATE INDEX goals_by_theme ON goals (kind, theme, status);
)sql";

}  // namespace

const std::vector<Migration>& state_db_migrations() {
  static const std::vector<Migration> migrations = {
      {1, "image metadata",
       "CREATE TABLE image_meta ("
       "  key TEXT PRIMARY KEY,"
       "  value TEXT NOT NULL"
       ") STRICT;"
       "INSERT INTO image_meta(key, value) VALUES ('created_by', 'a4ps');"},
      {2, "graph engine: threads, checkpoints, channel values, runs, events, journal",
       kGraphSchemaV2},
      {3, "episodic memory: memories, their embeddings, and an FTS5 index kept by triggers",
       kMemorySchemaV3},
      {4, "the Tool Forge's registry: tools and their versions", kToolSchemaV4},
      {5, "the Motivator: goals, the runs they became, and its place in the event log",
       kGoalSchemaV5},
      {6,
       "the strategic loop: judgements, datasets, adapters, adoption decisions and the adopted "
       "adapter per persona; goals admit the evolve kind",
       kEvolveSchemaV6},
  };
  return migrations;
}

int current_state_db_version() {
  return state_db_migrations().back().to_version;
}

int migrate_connection(sqlite3* db, const std::string& where,
                       const std::vector<Migration>& migrations) {
  int version = user_version(db, where);
  const int newest = migrations.empty() ? 0 : migrations.back().to_version;
  if (version > newest) {
    throw Error(ErrorCode::kFailedPrecondition,
                where + ": schema version " + std::to_string(version) +
                    " was written by a newer A4PS (this build knows up to " +
                    std::to_string(newest) + ")");
  }
  for (const Migration& m : migrations) {
    if (m.to_version <= version) continue;
    // Each migration and its version bump commit together, or not at all.
    exec(db,
         "BEGIN IMMEDIATE;" + m.sql + "PRAGMA user_version = " + std::to_string(m.to_version) +
             ";COMMIT;",
         where + ": migration to schema " + std::to_string(m.to_version) + " (" + m.description +
             ") failed");
    version = m.to_version;
  }
  return version;
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
  user_version(db.get(), where);  // a file that is not a database fails here, before WAL
  exec(db.get(), "PRAGMA journal_mode=WAL", where + ": cannot switch to WAL");
  return migrate_connection(db.get(), where, migrations);
}

}  // namespace a4ps
