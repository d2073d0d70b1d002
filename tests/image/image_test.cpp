#include "image/image.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "image/state_db.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps {
namespace {

using testing::code_of;

// A pid that certainly belonged to a process that has exited.
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = testing::scratch_dir() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(Image, CreateLaysOutTheDirectory) {
  const auto dir = fresh_dir("img-layout");
  Image::create(dir, "version = 1\n");
  for (const char* part : {"image.toml", "config.toml", "codex/persona_codex.toml", "state.db",
                           "codex/history", "index", "tools", "adapters", "models", "datasets"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / part)) << part;
  }
  EXPECT_NO_THROW(Config::load_file(dir / "config.toml"));
  const auto image = Image::open(dir);
  EXPECT_EQ(image->schema_version(), current_state_db_version());
}

TEST(Image, CreateRefusesANonEmptyDirectory) {
  const auto dir = fresh_dir("img-busy");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "precious.txt") << "mine";
  EXPECT_EQ(code_of([&] { Image::create(dir, ""); }), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(dir / "precious.txt"));
}

TEST(Image, OneWriterAtATime) {
  const auto dir = fresh_dir("img-lock");
  Image::create(dir, "");
  {
    const auto first = Image::open(dir);
    std::string message;
    EXPECT_EQ(code_of([&] { Image::open(dir); }, &message), ErrorCode::kFailedPrecondition);
    EXPECT_NE(message.find("in use by process " + std::to_string(getpid())), std::string::npos);
    EXPECT_EQ(code_of([&] { Image::clear_stale_lock(dir); }), ErrorCode::kFailedPrecondition);
  }
  EXPECT_NO_THROW(Image::open(dir));  // released when the first closed
}

TEST(Image, StaleLockIsReportedWithTheCommandThatClearsIt) {
  const auto dir = fresh_dir("img-stale");
  Image::create(dir, "");
  const pid_t dead = dead_pid();
  std::ofstream(dir / "lock") << dead << "\n";
  std::string message;
  EXPECT_EQ(code_of([&] { Image::open(dir); }, &message), ErrorCode::kFailedPrecondition);
  EXPECT_NE(message.find("stale lock left by process " + std::to_string(dead)), std::string::npos);
  EXPECT_NE(message.find("a4ps image unlock " + dir.string()), std::string::npos) << message;
  Image::clear_stale_lock(dir);
  EXPECT_NO_THROW(Image::open(dir));
}

TEST(Image, MissingImageAndNewerFormatAreClearErrors) {
  std::string message;
  EXPECT_EQ(code_of([&] { Image::open(fresh_dir("img-none")); }, &message), ErrorCode::kNotFound);
  EXPECT_NE(message.find("a4ps init"), std::string::npos);
  const auto dir = fresh_dir("img-future");
  Image::create(dir, "");
  std::ofstream(dir / "image.toml") << "format_version = 99\n";
  EXPECT_EQ(code_of([&] { Image::open(dir); }), ErrorCode::kFailedPrecondition);
  std::ofstream(dir / "image.toml") << "format_version = = 1\n";
  EXPECT_EQ(code_of([&] { Image::open(dir); }), ErrorCode::kDataLoss);
}

TEST(StateDb, MigratesAnOlderSchemaForwardKeepingItsRows) {
  const auto db = fresh_dir("old.db");
  const std::vector<Migration> v1 = {{1, "notes",
                                      "CREATE TABLE notes(text TEXT);"
                                      "INSERT INTO notes VALUES ('kept');"}};
  EXPECT_EQ(migrate_state_db(db, v1), 1);
  std::vector<Migration> v2 = v1;
  v2.push_back({2, "note authors", "ALTER TABLE notes ADD COLUMN author TEXT DEFAULT 'BRICK';"});
  EXPECT_EQ(migrate_state_db(db, v2), 2);
  EXPECT_EQ(migrate_state_db(db, v2), 2);  // idempotent
  // The row from version 1 survived with the new column's default.
  std::vector<Migration> check = v2;
  check.push_back({3, "check",
                   "CREATE TABLE ok AS SELECT * FROM notes WHERE text = 'kept' AND "
                   "author = 'BRICK';"});
  EXPECT_EQ(migrate_state_db(db, check), 3);
}

TEST(StateDb, AFailedMigrationLeavesTheOldVersion) {
  const auto db = fresh_dir("failing.db");
  const std::vector<Migration> v1 = {{1, "t", "CREATE TABLE t(x);"}};
  migrate_state_db(db, v1);
  std::vector<Migration> bad = v1;
  bad.push_back({2, "broken", "CREATE TABLE u(y); THIS IS NOT SQL;"});
  EXPECT_EQ(code_of([&] { migrate_state_db(db, bad); }), ErrorCode::kDataLoss);
  EXPECT_EQ(migrate_state_db(db, v1), 1);  // still at 1, and table u was rolled back
  std::vector<Migration> retry = v1;
  retry.push_back({2, "u again", "CREATE TABLE u(y);"});
  EXPECT_EQ(migrate_state_db(db, retry), 2);
}

TEST(StateDb, NewerSchemaAndGarbageAreRefused) {
  const auto db = fresh_dir("newer.db");
  migrate_state_db(db, {{7, "future", "CREATE TABLE f(x);"}});
  EXPECT_EQ(code_of([&] { migrate_state_db(db); }), ErrorCode::kFailedPrecondition);
  const auto junk = testing::write_scratch_file("junk.db", std::string(4096, 'x'));
  EXPECT_EQ(code_of([&] { migrate_state_db(junk); }), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace a4ps
