// image/sqlite: a thin RAII layer over the SQLite C API for the modules that talk SQL (the
// checkpointer, later memory). Statements are prepared once per connection and cached;
// failures become a4ps::Error naming the database and the statement's purpose.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace a4ps::sql {

// One prepared statement, reset when a new execution binds it. Not thread-safe.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string where)
      : db_(db), stmt_(stmt), where_(std::move(where)) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Clears earlier bindings and results; returns *this for chaining binds (1-based).
  Statement& reset();
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, std::nullopt_t);
  Statement& bind(int index, const std::optional<std::int64_t>& value);
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind_real(int index, double value);
  Statement& bind_blob(int index, std::string_view bytes);

  // Advances; true while a row is available.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  double real(int column) const;
  std::string blob(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string where_;
};

enum class OpenMode { kReadWrite, kReadOnly };

// One use of a cached statement: binds, steps, reads columns, and resets the statement when it
// goes out of scope, so that no half-read statement keeps a read snapshot open.
class Query {
 public:
  explicit Query(Statement& statement) : statement_(&statement) {}
  ~Query() {
    if (statement_ != nullptr) statement_->reset();
  }
  Query(Query&& other) noexcept : statement_(std::exchange(other.statement_, nullptr)) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;

  template <typename T>
  Query& bind(int index, T&& value) {
    statement_->bind(index, std::forward<T>(value));
    return *this;
  }
  Query& bind_real(int index, double value) {
    statement_->bind_real(index, value);
    return *this;
  }
  Query& bind_blob(int index, std::string_view bytes) {
    statement_->bind_blob(index, bytes);
    return *this;
  }
  bool step() { return statement_->step(); }
  void run() { statement_->run(); }
  std::int64_t int64(int column) const { return statement_->int64(column); }
  std::string text(int column) const { return statement_->text(column); }
  double real(int column) const { return statement_->real(column); }
  std::string blob(int column) const { return statement_->blob(column); }
  bool is_null(int column) const { return statement_->is_null(column); }

 private:
  Statement* statement_;
};

// A connection with a statement cache. Not thread-safe: the owner serialises access.
class Database {
 public:
  // Opens `path` (kReadWrite creates it if needed); ":memory:" for a private in-memory
  // database. kReadOnly also reads a WAL database in a directory this process may not write
  // (a read-only image): when it has no -wal or -shm file, it is opened as immutable. Throws
  // a4ps::Error kUnavailable when it cannot be opened.
  static std::unique_ptr<Database> open(const std::string& path,
                                        OpenMode mode = OpenMode::kReadWrite);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Executes one or more statements (no results). Throws kDataLoss naming `what`.
  void exec(const std::string& sql, const std::string& what);
  // The cached statement for `sql`, reset and ready to bind.
  Query prepare(const std::string& sql);
  std::int64_t changes() const;
  std::int64_t last_insert_id() const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> statements_;
  friend class Transaction;
  int depth_ = 0;               // open Transactions
  bool rollback_only_ = false;  // a nested Transaction was abandoned
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called. A
// Transaction made while another is open on the same connection joins it: only the outermost
// begins and commits, and if a nested one is abandoned the outermost rolls back instead of
// committing (and throws kInternal).
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace a4ps::sql
