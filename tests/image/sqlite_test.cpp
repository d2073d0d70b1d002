#include "image/sqlite.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps::sql {
namespace {

std::int64_t count_rows(Database& db) {
  auto q = db.prepare("SELECT count(*) FROM t");
  return q.step() ? q.int64(0) : -1;
}

TEST(Sqlite, NestedTransactionsCommitOnceWithTheOutermost) {
  auto db = Database::open(":memory:");
  db->exec("CREATE TABLE t (x INTEGER)", "setup");
  {
    Transaction outer(*db);
    {
      Transaction inner(*db);
      db->prepare("INSERT INTO t VALUES (1)").run();
      inner.commit();
    }
    db->prepare("INSERT INTO t VALUES (2)").run();
    outer.commit();
  }
  EXPECT_EQ(count_rows(*db), 2);
}

TEST(Sqlite, AnAbandonedNestedTransactionRollsBackTheOutermost) {
  auto db = Database::open(":memory:");
  db->exec("CREATE TABLE t (x INTEGER)", "setup");
  {
    Transaction outer(*db);
    db->prepare("INSERT INTO t VALUES (1)").run();
    { Transaction inner(*db); }  // abandoned: an error inside it
    EXPECT_THROW(outer.commit(), Error);
  }
  EXPECT_EQ(count_rows(*db), 0);
  {
    Transaction next(*db);  // the connection is usable again
    db->prepare("INSERT INTO t VALUES (3)").run();
    next.commit();
  }
  EXPECT_EQ(count_rows(*db), 1);
}

TEST(Sqlite, ConstraintViolationsAreFailedPreconditionsAndOtherErrorsNameTheStatement) {
  auto db = Database::open(":memory:");
  db->exec("CREATE TABLE t (x INTEGER PRIMARY KEY)", "setup");
  db->prepare("INSERT INTO t VALUES (1)").run();
  try {
    db->prepare("INSERT INTO t VALUES (1)").run();
    FAIL() << "a duplicate key was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
  try {
    db->prepare("SELECT nope FROM t");
    FAIL() << "a bad statement was prepared";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such column: nope"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace a4ps::sql
