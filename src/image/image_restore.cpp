// verify_image_file and restore_image_file (image/image_file.h).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "image/image.h"
#include "image/image_file.h"
#include "image/image_file_internal.h"

namespace a4ps {
namespace {

using image_file::kManifestName;
using image_file::MemberFact;
using nlohmann::json;
namespace fs = std::filesystem;

// Where a member's bytes go while it is read (restore), or nowhere (verify).
using MemberSink = std::function<void(const std::string& path, std::string_view bytes)>;

[[noreturn]] void corrupt(const fs::path& file, const std::string& why) {
  throw Error(ErrorCode::kDataLoss, file.string() + ": " + why);
}

std::string kind_of_entry(archive_entry* e) {
  if (archive_entry_hardlink(e) != nullptr) return "a hard link";
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      return "";
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFDIR:
      return "a directory";
    default:
      return "a special file";
  }
}

class ArchiveReader {
 public:
  explicit ArchiveReader(const fs::path& file)
      : owner_(archive_read_new()), a_(owner_.get()), file_(file) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      const std::string kind = non_regular_kind(file);
      if (kind.empty()) throw_not_found(file.string() + ": no such image file");
      throw_invalid_argument(file.string() + ": is " + kind + ", not an image file");
    }
    archive_read_support_filter_zstd(a_);
    archive_read_support_format_tar(a_);
    if (archive_read_open_filename(a_, file.c_str(), 1 << 16) != ARCHIVE_OK) {
      fail("is truncated or is not an image file");
    }
  }
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // The next member's header, or null at the end.
  archive_entry* next() {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a_, &e);
    if (rc == ARCHIVE_EOF) return nullptr;
    if (rc != ARCHIVE_OK) fail("is truncated or is not an image file");
    return e;
  }
  // Reads the member's data, passing each piece to `piece`; returns its size.
  std::uint64_t read(const std::function<void(std::string_view)>& piece) {
    std::uint64_t size = 0;
    std::vector<char> buffer(1 << 20);
    for (;;) {
      const la_ssize_t n = archive_read_data(a_, buffer.data(), buffer.size());
      if (n < 0) fail("is truncated or corrupt");
      if (n == 0) return size;
      piece({buffer.data(), static_cast<size_t>(n)});
      size += static_cast<std::uint64_t>(n);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    const char* said = archive_error_string(a_);
    corrupt(file_, what + " (" + (said != nullptr ? said : "no detail") + ")");
  }
  struct Free {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<archive, Free> owner_;  // freed even when the constructor throws
  archive* a_;
  fs::path file_;
};

json read_manifest(ArchiveReader& in, const fs::path& file) {
  archive_entry* first = in.next();
  if (first == nullptr) corrupt(file, "holds nothing");
  const std::string name = archive_entry_pathname(first);
  if (name != kManifestName)
    corrupt(file, "its first member is \"" + name + "\", not MANIFEST.json");
  std::string text;
  in.read([&](std::string_view piece) {
    if (text.size() + piece.size() > image_file::kMaxManifestBytes)
      corrupt(file, "MANIFEST.json is too large");
    text += piece;
  });
  json manifest = json::parse(text, nullptr, false);
  if (!manifest.is_object()) corrupt(file, "MANIFEST.json is not a JSON object");
  const json version = manifest.value("format_version", json());
  if (!version.is_number_integer()) corrupt(file, "MANIFEST.json has no format_version");
  if (version.get<int>() > kImageFileFormatVersion) {
    throw Error(ErrorCode::kFailedPrecondition,
                file.string() + ": image file format " + std::to_string(version.get<int>()) +
                    " is newer than this build's " + std::to_string(kImageFileFormatVersion) +
                    "; restore it with a newer a4ps");
  }
  return manifest;
}

// Reads the whole file, checking every member against the manifest; `sink` (if any) receives
// each member's bytes as they are read. Throws kDataLoss naming the first that fails.
VerifyReport read_all(const fs::path& file, const MemberSink& sink) {
  ArchiveReader in(file);
  VerifyReport report;
  report.manifest = read_manifest(in, file);
  const std::map<std::string, MemberFact> listed =
      image_file::manifest_members(report.manifest, file.string());
  std::set<std::string> seen;
  while (archive_entry* e = in.next()) {
    const std::string path = archive_entry_pathname(e);
    const std::string member = "member \"" + path + "\"";
    if (const std::string why = image_file::unsafe_path_reason(path); !why.empty()) {
      corrupt(file, member + ": " + why);
    }
    if (const std::string kind = kind_of_entry(e); !kind.empty()) {
      corrupt(file, member + " is " + kind + "; an image file holds regular files only");
    }
    const auto it = listed.find(path);
    if (it == listed.end()) corrupt(file, member + " is not in the manifest");
    if (!seen.insert(path).second) corrupt(file, member + " is in the file twice");
    Sha256 hash;
    const std::uint64_t size = in.read([&](std::string_view piece) {
      hash.update(piece);
      if (sink) sink(path, piece);
    });
    if (size != it->second.size) {
      corrupt(file, member + " is " + std::to_string(size) + " bytes; the manifest says " +
                        std::to_string(it->second.size));
    }
    if (hash.hex() != it->second.sha256)
      corrupt(file, member + ": its SHA-256 is not the manifest's");
    ++report.members;
    report.bytes += size;
  }
  for (const auto& [path, fact] : listed) {
    if (!seen.contains(path))
      corrupt(file, "member \"" + path + "\" is in the manifest but not in the file");
  }
  return report;
}

// Writes each member's bytes under `root`, a file at a time (created exclusively).
class Unpacker {
 public:
  explicit Unpacker(fs::path root) : root_(std::move(root)) {}
  ~Unpacker() { close(); }
  Unpacker(const Unpacker&) = delete;
  Unpacker& operator=(const Unpacker&) = delete;

  void write(const std::string& path, std::string_view bytes) {
    if (path != path_) open(path);
    if (!out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
      throw Error(ErrorCode::kUnavailable, (root_ / path).string() + ": cannot be written");
    }
  }
  void close() {
    if (out_.is_open()) {
      out_.close();
      fsync_path(root_ / path_);
    }
  }
  // A member with no bytes never reaches write(): made here from the manifest.
  void touch(const std::string& path) {
    fs::create_directories((root_ / path).parent_path());
    std::ofstream(root_ / path, std::ios::binary | std::ios::app);
  }

 private:
  void open(const std::string& path) {
    close();
    fs::create_directories((root_ / path).parent_path());
    out_.open(root_ / path, std::ios::binary | std::ios::trunc);
    if (!out_)
      throw Error(ErrorCode::kUnavailable, (root_ / path).string() + ": cannot be created");
    path_ = path;
  }
  fs::path root_;
  std::string path_;
  std::ofstream out_;
};

std::uint64_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : size;
}

// Where the base model `m` is on this machine: its recorded path, then a file of its size and
// hash in one of `dirs`; status "" when nowhere.
RestoredModel find_model(const json& m, const std::vector<fs::path>& dirs) {
  RestoredModel found{m.value("name", ""), "unavailable", {}};
  const std::uint64_t size = m.value("size", std::uint64_t{0});
  const std::string sha = m.value("sha256", "");
  const fs::path recorded = m.value("path", "");
  const auto matches = [&](const fs::path& p) {
    return size_or_zero(p) == size && sha256_file_hex(p) == sha;
  };
  if (!recorded.empty() && matches(recorded)) return {found.name, "found", recorded};
  std::vector<fs::path> candidates;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) candidates.push_back(it->path());
    }
  }
  // By hash first; the recorded file name breaks no tie, it only orders the search.
  std::stable_partition(candidates.begin(), candidates.end(),
                        [&](const fs::path& p) { return p.filename() == recorded.filename(); });
  for (const fs::path& p : candidates) {
    if (matches(p)) return {found.name, "moved", fs::absolute(p)};
  }
  return found;
}

// Points the config's [models] NAME entries at where the models are now (a line edit, so the
// file's comments and order stay).
void repoint_models(const fs::path& config, const std::vector<RestoredModel>& models) {
  const std::string text = image_file::edit_toml_lines(
      read_file(config), [&models](const image_file::TomlLine& l) -> std::optional<std::string> {
        if (l.section != "[models]") return std::nullopt;
        for (const RestoredModel& m : models) {
          if (m.status != "found" && !m.path.empty() && l.key == m.name) {
            return m.name + " = " + json(m.path.string()).dump();
          }
        }
        return std::nullopt;
      });
  write_file_durably(config, text);
}

// Where a restore unpacks before the rename (what a restore killed midway left is replaced).
fs::path staging_sibling(const fs::path& dir) {
  const fs::path stage = dir.parent_path() / ("." + dir.filename().string() + ".restore");
  std::error_code ec;
  fs::remove_all(stage, ec);
  return stage;
}

void refuse_existing(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    throw Error(ErrorCode::kFailedPrecondition,
                dir.string() +
                    ": already exists and is not empty; an image is restored into a "
                    "new or empty directory, never over another");
  }
}

std::vector<RestoredModel> place_models(const json& manifest, const fs::path& stage,
                                        const fs::path& dir, const RestoreOptions& options) {
  std::vector<RestoredModel> out;
  for (const json& m : manifest.value("models", json::array())) {
    const std::string member = m.value("member", "");
    RestoredModel r = !member.empty() && fs::exists(stage / member)
                          ? RestoredModel{m.value("name", ""), "unpacked", dir / member}
                          : find_model(m, options.model_dirs);
    if (r.status == "unavailable" && options.strict) {
      throw Error(ErrorCode::kFailedPrecondition, "base model " + r.name + " (SHA-256 " +
                                                      m.value("sha256", "") + ", " +
                                                      m.value("path", "") +
                                                      ") is not on this machine (--strict); give "
                                                      "--model-dir where it is");
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

VerifyReport verify_image_file(const fs::path& file) {
  return read_all(file, nullptr);
}

RestoreReport restore_image_file(const fs::path& file, const fs::path& dir,
                                 const RestoreOptions& options) {
  const fs::path target = fs::absolute(dir);
  refuse_existing(target);
  for (const fs::path& d : options.model_dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) {
      throw_invalid_argument("--model-dir " + d.string() + ": not a directory");
    }
  }
  RestoreReport report;
  report.verified = verify_image_file(file);  // before anything is written
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  const fs::path stage = staging_sibling(target);
  try {
    fs::create_directory(stage);
    {
      Unpacker unpack(stage);
      std::uint64_t done = 0;
      read_all(file, [&](const std::string& path, std::string_view bytes) {
        unpack.write(path, bytes);
        done += bytes.size();
        if (options.progress) options.progress(done, report.verified.bytes);
      });
      for (const auto& [path, fact] :
           image_file::manifest_members(report.verified.manifest, file.string())) {
        if (fact.size == 0) unpack.touch(path);
      }
    }
    for (const char* folder :
         {"codex/history", "index", "tools", "adapters", "models", "datasets"}) {
      fs::create_directories(stage / folder);
    }
    report.models = place_models(report.verified.manifest, stage, target, options);
    repoint_models(stage / "config.toml", report.models);
    report.image_id = give_new_image_id(stage);
    refuse_existing(target);  // nothing appeared there meanwhile
    fs::remove(target, ec);   // an empty directory, if any
    fs::rename(stage, target);
    fsync_path(target.parent_path());
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  Image::open(target);  // migrates state.db forward; the lock goes with it
  return report;
}

}  // namespace a4ps
