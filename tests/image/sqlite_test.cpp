#include "image/sqlite.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "support/test_models.h"

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

// A WAL database in a directory the reader may not write (a read-only image): the reader cannot
// make the -shm file SQLite wants, yet it can read. Root writes anywhere, so the reader drops to
// nobody in a child process when the test runs as root.
TEST(Sqlite, AReaderReadsAWalDatabaseInADirectoryItMayNotWrite) {
  // Not under scratch_dir(): that is private (0700), and nobody must be able to reach the file.
  std::string where = (std::filesystem::temp_directory_path() / "a4ps-read-only-XXXXXX").string();
  ASSERT_NE(mkdtemp(where.data()), nullptr);
  const std::filesystem::path dir = where;
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  const std::string path = (dir / "state.db").string();
  {
    auto db = Database::open(path);
    db->exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)",
             "setup");
  }
  ASSERT_FALSE(std::filesystem::exists(path + "-shm"));  // the last connection removed it
  ASSERT_EQ(chmod(dir.c_str(), 0555), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    if (access(dir.c_str(), W_OK) == 0) _exit(4);  // the directory is still writable
    try {
      auto db = Database::open(path, OpenMode::kReadOnly);
      _exit(count_rows(*db) == 1 ? 0 : 1);
    } catch (const Error&) {
      _exit(2);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  chmod(dir.c_str(), 0755);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: opening or reading failed; 3: could not drop to nobody; "
                                       "4: the directory stayed writable";
}

}  // namespace
}  // namespace a4ps::sql
