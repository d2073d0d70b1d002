// The image file (image/image_file.h): a round trip that keeps everything and gives a new id;
// secrets left out; a save while another connection writes; and every kind of bad file, each
// refused with the member and the reason, with nothing written by a restore.
#include "image/image_file.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "image/image.h"
#include "image/sqlite.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::code_of;

fs::path fresh(const std::string& name) {
  const fs::path dir = testing::scratch_dir() / "image-file" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// An image with a row in state.db, a tool file and a token in its config.
fs::path sample_image(const fs::path& root) {
  const fs::path dir = root / "image";
  Image::create(dir, "version = 1\n");
  { Image::open(dir); }  // gives it an id
  fs::create_directories(dir / "tools" / "word_count" / "v1");
  write_file_durably(dir / "tools" / "word_count" / "v1" / "tool.py", "def word_count(t): pass\n");
  std::string config = read_file(dir / "config.toml");
  config.replace(config.find("token = \"\""), 10, "token = \"s3cret\"");
  write_file_durably(dir / "config.toml", config);
  auto db = sql::Database::open((dir / "state.db").string());
  db->exec("CREATE TABLE probe (x TEXT); INSERT INTO probe VALUES ('kept')", "probe");
  return dir;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Entry {
  std::string path;
  std::string content;
  unsigned type = AE_IFREG;
  std::string link;  // a symlink's target or a hard link's
};

// A tar + zstd file written as given, for the bad files save never writes.
void write_archive(const fs::path& file, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_add_filter_zstd(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, file.c_str()), ARCHIVE_OK);
  for (const Entry& e : entries) {
    archive_entry* h = archive_entry_new();
    archive_entry_set_pathname(h, e.path.c_str());
    archive_entry_set_filetype(h, e.type);
    archive_entry_set_perm(h, 0644);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(h, e.link.c_str());
    if (e.type == AE_IFREG && !e.link.empty()) archive_entry_set_hardlink(h, e.link.c_str());
    archive_entry_set_size(
        h, e.type == AE_IFREG && e.link.empty() ? static_cast<la_int64_t>(e.content.size()) : 0);
    archive_write_header(a, h);
    if (e.type == AE_IFREG && e.link.empty()) {
      archive_write_data(a, e.content.data(), e.content.size());
    }
    archive_entry_free(h);
  }
  archive_write_close(a);
  archive_write_free(a);
}

Entry manifest_for(const std::vector<Entry>& members, int version = kImageFileFormatVersion) {
  json list = json::array();
  for (const Entry& m : members) {
    list.push_back(
        {{"path", m.path}, {"size", m.content.size()}, {"sha256", sha256_hex(m.content)}});
  }
  return {"MANIFEST.json", json{{"format_version", version}, {"members", list}}.dump()};
}

// verify's complaint about a file of these entries ("" when it passes).
std::string verdict(const std::string& name, const std::vector<Entry>& entries) {
  const fs::path file = fresh(name) / "bad.a4ps";
  write_archive(file, entries);
  return error_of([&] { verify_image_file(file); });
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ImageFile, ARestoredImageHoldsEverythingAndIsAnotherImage) {
  const fs::path root = fresh("round-trip");
  const fs::path src = sample_image(root);
  SaveOptions o;
  o.include_secrets = true;
  const SaveReport saved = save_image_file(src, root / "a.a4ps", o);
  EXPECT_FALSE(fs::exists(root / "a.a4ps.tmp"));
  const VerifyReport v = verify_image_file(root / "a.a4ps");
  EXPECT_EQ(v.members, saved.manifest["members"].size());
  EXPECT_EQ(v.manifest["image_id"], read_image_id(src));
  const RestoreReport r = restore_image_file(root / "a.a4ps", root / "copy", {});
  EXPECT_NE(r.image_id, read_image_id(src));
  EXPECT_EQ(read_image_id(root / "copy"), r.image_id);
  EXPECT_EQ(read_file(root / "copy/tools/word_count/v1/tool.py"), "def word_count(t): pass\n");
  EXPECT_EQ(read_file(root / "copy/config.toml"), read_file(src / "config.toml"));
  for (const char* folder : {"adapters", "models", "datasets", "codex/history", "index"}) {
    EXPECT_TRUE(fs::is_directory(root / "copy" / folder)) << folder;
  }
  auto db = sql::Database::open((root / "copy/state.db").string());
  auto q = db->prepare("SELECT x FROM probe");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.text(0), "kept");
  EXPECT_FALSE(fs::exists(root / "copy/lock"));  // opened to migrate, and closed
}

TEST(ImageFile, SecretsStayBehindUnlessAsked) {
  const fs::path root = fresh("secrets");
  const fs::path src = sample_image(root);
  const SaveReport saved = save_image_file(src, root / "a.a4ps", {});
  ASSERT_EQ(saved.secrets_left, std::vector<std::string>{"[server] token"});
  restore_image_file(root / "a.a4ps", root / "copy", {});
  const std::string config = read_file(root / "copy/config.toml");
  EXPECT_FALSE(has(config, "s3cret"));
  EXPECT_TRUE(has(config, "# token = (left out of the image file"));
}

// A transaction another connection has not committed is not in the copy, and the copy is whole.
TEST(ImageFile, ASaveWhileAnotherConnectionWritesIsConsistent) {
  const fs::path root = fresh("live");
  const fs::path src = sample_image(root);
  auto writer = sql::Database::open((src / "state.db").string());
  writer->exec("BEGIN IMMEDIATE; INSERT INTO probe VALUES ('torn')", "write");
  save_image_file(src, root / "a.a4ps", {});
  writer->exec("COMMIT", "commit");
  restore_image_file(root / "a.a4ps", root / "copy", {});
  auto db = sql::Database::open((root / "copy/state.db").string());
  auto q = db->prepare("SELECT COUNT(*) FROM probe");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.int64(0), 1);
}

TEST(ImageFile, EveryKindOfBadFileIsRefusedNamingTheMemberAndWhy) {
  const Entry a{"a.txt", "alpha"};
  const Entry b{"b.txt", "beta"};
  EXPECT_EQ(verdict("good", {manifest_for({a, b}), a, b}), "");
  EXPECT_TRUE(has(verdict("first", {a, manifest_for({a})}), "its first member is \"a.txt\""));
  Entry lying = manifest_for({a});
  lying.content = json{{"format_version", 1},
                       {"members", {{{"path", "a.txt"}, {"size", 5}, {"sha256", sha256_hex("x")}}}}}
                      .dump();
  EXPECT_TRUE(
      has(verdict("hash", {lying, a}), "member \"a.txt\": its SHA-256 is not the manifest's"));
  lying.content =
      json{{"format_version", 1},
           {"members", {{{"path", "a.txt"}, {"size", 9}, {"sha256", sha256_hex("alpha")}}}}}
          .dump();
  EXPECT_TRUE(has(verdict("size", {lying, a}), "member \"a.txt\" is 5 bytes; the manifest says 9"));
  EXPECT_TRUE(
      has(verdict("unlisted", {manifest_for({a}), a, b}), "\"b.txt\" is not in the manifest"));
  EXPECT_TRUE(has(verdict("missing", {manifest_for({a, b}), a}),
                  "\"b.txt\" is in the manifest but not in the file"));
  EXPECT_TRUE(has(verdict("twice", {manifest_for({a}), a, a}), "\"a.txt\" is in the file twice"));
  EXPECT_TRUE(has(verdict("listed-twice", {manifest_for({a, a}), a}), "lists \"a.txt\" twice"));
  const Entry up{"../evil", "x"};
  EXPECT_TRUE(has(verdict("traversal", {manifest_for({a}), a, up}), "path traversal"));
  const Entry abs{"/etc/evil", "x"};
  EXPECT_TRUE(has(verdict("absolute", {manifest_for({a}), a, abs}), "an absolute path"));
  const Entry link{"l", "", AE_IFLNK, "/etc/passwd"};
  EXPECT_TRUE(has(verdict("symlink", {manifest_for({a}), a, link}), "is a symbolic link"));
  const Entry hard{"h", "", AE_IFREG, "a.txt"};
  EXPECT_TRUE(has(verdict("hardlink", {manifest_for({a}), a, hard}), "is a hard link"));
  const fs::path newer = fresh("newer") / "n.a4ps";
  write_archive(newer, {manifest_for({a}, kImageFileFormatVersion + 1), a});
  EXPECT_EQ(code_of([&] { verify_image_file(newer); }), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(code_of([&] { verify_image_file(fresh("none") / "none.a4ps"); }), ErrorCode::kNotFound);
}

// A truncated file and a flipped byte anywhere are DataLoss; restore writes nothing.
TEST(ImageFile, ATruncatedOrFlippedFileIsRefusedAndRestoreWritesNothing) {
  const fs::path root = fresh("damaged");
  const fs::path src = sample_image(root);
  save_image_file(src, root / "a.a4ps", {});
  const std::string bytes = read_file(root / "a.a4ps");
  write_file_durably(root / "cut.a4ps", bytes.substr(0, bytes.size() * 2 / 3));
  EXPECT_EQ(code_of([&] { verify_image_file(root / "cut.a4ps"); }), ErrorCode::kDataLoss);
  for (const std::size_t at : {bytes.size() / 4, bytes.size() / 2, bytes.size() - 40}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    write_file_durably(root / "flip.a4ps", flipped);
    EXPECT_EQ(code_of([&] { verify_image_file(root / "flip.a4ps"); }), ErrorCode::kDataLoss)
        << "byte " << at;
    EXPECT_EQ(code_of([&] { restore_image_file(root / "flip.a4ps", root / "out", {}); }),
              ErrorCode::kDataLoss);
    EXPECT_FALSE(fs::exists(root / "out"));
  }
  for (const auto& e : fs::directory_iterator(root)) {
    EXPECT_FALSE(has(e.path().filename().string(), ".restore")) << e.path();
  }
}

TEST(ImageFile, RestoreNeverWritesOverAnImage) {
  const fs::path root = fresh("over");
  const fs::path src = sample_image(root);
  save_image_file(src, root / "a.a4ps", {});
  const std::string before = read_file(src / "config.toml");
  EXPECT_EQ(code_of([&] { restore_image_file(root / "a.a4ps", src, {}); }),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(read_file(src / "config.toml"), before);
  fs::create_directories(root / "empty");
  EXPECT_NO_THROW(restore_image_file(root / "a.a4ps", root / "empty", {}));
}

// A base model is found by its hash where it moved to, and the config follows it; one that is
// nowhere is reported, and fails the restore only with --strict.
TEST(ImageFile, BaseModelsAreFoundByHashAndTheConfigFollowsThem) {
  const fs::path root = fresh("models");
  const fs::path src = sample_image(root);
  fs::create_directories(root / "old");
  write_file_durably(root / "old/brick.gguf", "GGUF weights of brick");
  std::ofstream(src / "config.toml", std::ios::app)
      << "\n[models]\nbrick = \"" << (root / "old/brick.gguf").string() << "\"\n";
  SaveOptions o;
  o.models = {{"brick", root / "old/brick.gguf", sha256_hex("GGUF weights of brick"), 21, "llama"}};
  save_image_file(src, root / "a.a4ps", o);
  fs::create_directories(root / "new");
  fs::rename(root / "old/brick.gguf", root / "new/renamed.gguf");
  RestoreOptions strict;
  strict.strict = true;
  EXPECT_TRUE(has(error_of([&] { restore_image_file(root / "a.a4ps", root / "c1", strict); }),
                  "base model brick"));
  EXPECT_FALSE(fs::exists(root / "c1"));
  EXPECT_EQ(restore_image_file(root / "a.a4ps", root / "c2", {}).models.at(0).status,
            "unavailable");
  RestoreOptions typo;
  typo.model_dirs = {root / "nwe"};
  EXPECT_EQ(code_of([&] { restore_image_file(root / "a.a4ps", root / "c0", typo); }),
            ErrorCode::kInvalidArgument);
  RestoreOptions look;
  look.model_dirs = {root / "new"};
  const RestoreReport r = restore_image_file(root / "a.a4ps", root / "c3", look);
  ASSERT_EQ(r.models.size(), 1U);
  EXPECT_EQ(r.models[0].status, "moved");
  EXPECT_TRUE(has(read_file(root / "c3/config.toml"),
                  "brick = \"" + (root / "new/renamed.gguf").string() + "\""));
  SaveOptions carry;
  carry.with_models = true;
  carry.models = {
      {"brick", root / "new/renamed.gguf", sha256_hex("GGUF weights of brick"), 21, "llama"}};
  save_image_file(src, root / "b.a4ps", carry);
  const RestoreReport carried = restore_image_file(root / "b.a4ps", root / "c4", {});
  EXPECT_EQ(carried.models.at(0).status, "unpacked");
  EXPECT_EQ(read_file(root / "c4/base-models/brick/renamed.gguf"), "GGUF weights of brick");
}

}  // namespace
}  // namespace a4ps
