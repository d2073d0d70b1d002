#include "image/image_file.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "image/image.h"
#include "image/image_file_internal.h"
#include "image/sqlite.h"
#include "image/state_db.h"

namespace a4ps {
namespace image_file {

std::string unsafe_path_reason(const std::string& path) {
  if (path.empty()) return "an empty path";
  if (path.size() > 1024) return "a path longer than 1024 bytes";
  if (path.front() == '/') return "an absolute path";
  for (const char c : path) {
    if (c == '\\') return "a backslash in the path";
    if (static_cast<unsigned char>(c) < 0x20) return "a control character in the path";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty()) return "an empty component in the path";
    if (part == "." || part == "..") return "a \"" + part + "\" component (path traversal)";
    start = end + 1;
  }
  return "";
}

std::string edit_toml_lines(
    const std::string& text,
    const std::function<std::optional<std::string>(const TomlLine&)>& edit) {
  std::istringstream in(text);
  std::string out;
  TomlLine now;
  for (std::string line; std::getline(in, line);) {
    const std::size_t start = line.find_first_not_of(" \t");
    const std::string body = start == std::string::npos ? "" : line.substr(start);
    if (body.starts_with("[")) now.section = body.substr(0, body.find(']') + 1);
    now.key.clear();
    now.value.clear();
    const std::size_t eq = body.find('=');
    if (!body.starts_with("#") && !body.starts_with("[") && eq != std::string::npos) {
      now.key = body.substr(0, eq);
      now.key.erase(now.key.find_last_not_of(" \t") + 1);
      now.value = body.substr(eq + 1);
      now.value.erase(0, now.value.find_first_not_of(" \t"));
    }
    const std::optional<std::string> replaced = edit(now);
    out += (replaced ? *replaced : line) + "\n";
  }
  return out;
}

std::map<std::string, MemberFact> manifest_members(const nlohmann::json& manifest,
                                                   const std::string& file) {
  const nlohmann::json list = manifest.value("members", nlohmann::json());
  if (!list.is_array())
    throw Error(ErrorCode::kDataLoss, file + ": MANIFEST.json lists no members");
  std::map<std::string, MemberFact> out;
  for (const nlohmann::json& m : list) {
    const bool well_formed = m.is_object() && m.value("path", nlohmann::json()).is_string() &&
                             m.value("size", nlohmann::json()).is_number_unsigned() &&
                             m.value("sha256", nlohmann::json()).is_string();
    if (!well_formed) {
      throw Error(ErrorCode::kDataLoss,
                  file + ": MANIFEST.json has a member without path, size and sha256: " + m.dump());
    }
    const std::string path = m["path"];
    if (const std::string why = unsafe_path_reason(path); !why.empty()) {
      throw Error(ErrorCode::kDataLoss, file + ": MANIFEST.json member \"" + path + "\": " + why);
    }
    if (!out.emplace(path, MemberFact{m["size"].get<std::uint64_t>(), m["sha256"]}).second) {
      throw Error(ErrorCode::kDataLoss, file + ": MANIFEST.json lists \"" + path + "\" twice");
    }
  }
  return out;
}

}  // namespace image_file

namespace {

using image_file::kManifestName;
using nlohmann::json;
namespace fs = std::filesystem;

// A member: where it goes in the file and where its bytes come from.
struct Source {
  std::string path;
  fs::path from;
  std::uint64_t size = 0;
  std::string sha256;
};

bool is_secret_key(const std::string& key) {
  for (const char* secret : {"token", "api_key", "key", "password", "secret"}) {
    if (key == secret || key.ends_with(std::string("_") + secret)) return true;
  }
  return false;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// What of the image directory travels: every regular file but the lock, state.db and its
// side files (state.db travels as a checked copy) and, when asked, the derived index.
std::vector<Source> image_members(const fs::path& dir, bool without_index) {
  std::vector<Source> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    if (!it->is_regular_file() || it->is_symlink()) continue;  // links never travel
    const std::string path = fs::relative(it->path(), dir).generic_string();
    if (path == "lock" || path.starts_with("state.db") || path == "config.toml") continue;
    if (path.starts_with("index/") && (without_index || path == "index/lock")) continue;
    out.push_back({path, it->path(), 0, ""});
  }
  return out;
}

// A consistent copy of state.db, taken in one read transaction (also while another process
// writes it), fsynced and checked.
void copy_state_db(const fs::path& from, const fs::path& to) {
  {
    auto db = sql::Database::open(from.string(), sql::OpenMode::kReadOnly);
    auto q = db->prepare("VACUUM INTO ?");
    q.bind(1, to.string());
    q.run();
  }
  fsync_path(to);
  auto copy = sql::Database::open(to.string(), sql::OpenMode::kReadOnly);
  auto check = copy->prepare("PRAGMA integrity_check");
  const std::string verdict = check.step() ? check.text(0) : "no answer";
  if (verdict != "ok") {
    throw Error(ErrorCode::kDataLoss, from.string() +
                                          ": its copy fails SQLite's integrity check (" + verdict +
                                          "); nothing was saved");
  }
}

json manifest_of(const fs::path& dir, const std::vector<Source>& members, const SaveOptions& o,
                 const std::vector<std::string>& secrets_left) {
  json list = json::array();
  std::uint64_t bytes = 0;
  for (const Source& m : members) {
    list.push_back({{"path", m.path}, {"size", m.size}, {"sha256", m.sha256}});
    bytes += m.size;
  }
  json models = json::array();
  for (const BaseModel& b : o.models) {
    json entry = {{"name", b.name},
                  {"path", b.path.string()},
                  {"sha256", b.sha256},
                  {"size", b.size},
                  {"architecture", b.architecture}};
    if (o.with_models) {
      entry["member"] = std::string(image_file::kBaseModelsFolder) + "/" + b.name + "/" +
                        b.path.filename().string();
    }
    models.push_back(entry);
  }
  int schema = 0;
  {
    auto db = sql::Database::open((dir / "state.db").string(), sql::OpenMode::kReadOnly);
    auto q = db->prepare("PRAGMA user_version");
    if (q.step()) schema = static_cast<int>(q.int64(0));
  }
  return {{"format_version", kImageFileFormatVersion},
          {"a4ps_version", o.a4ps_version},
          {"schema_version", schema},
          {"image_id", read_image_id(dir)},
          {"created", now_utc()},
          {"bytes", bytes},
          {"members", list},
          {"models", models},
          {"secrets_left_out", secrets_left},
          {"index", !o.without_index}};
}

class ArchiveWriter {
 public:
  explicit ArchiveWriter(const fs::path& file)
      : owner_(archive_write_new()), a_(owner_.get()), file_(file) {
    if (archive_write_add_filter_zstd(a_) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a_) != ARCHIVE_OK ||
        archive_write_open_filename(a_, file.c_str()) != ARCHIVE_OK) {
      fail("cannot start writing");
    }
  }
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  void begin(const std::string& path, std::uint64_t size) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, 0, 0);  // deterministic: no times, owners or names of this host
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    const int rc = archive_write_header(a_, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) fail("cannot write the header of " + path);
  }
  void write(std::string_view bytes) {
    if (archive_write_data(a_, bytes.data(), bytes.size()) < 0) fail("cannot write");
  }
  void close() {
    if (archive_write_close(a_) != ARCHIVE_OK) fail("cannot finish");
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    const int err = archive_errno(a_);
    const char* said = archive_error_string(a_);
    std::string why = said != nullptr ? said : "unknown";
    if (err > 0) why += std::string(": ") + std::strerror(err);
    throw Error(
        err == ENOSPC || err == EDQUOT ? ErrorCode::kResourceExhausted : ErrorCode::kUnavailable,
        file_.string() + ": " + what + " (" + why + "); nothing was saved");
  }
  struct Free {
    void operator()(archive* a) const { archive_write_free(a); }
  };
  std::unique_ptr<archive, Free> owner_;  // freed even when the constructor throws
  archive* a_;
  fs::path file_;
};

// Streams `m` into the archive, hashing it again: a file that changed since the manifest was
// made fails the save rather than making a file that does not verify.
void write_member(ArchiveWriter& out, const Source& m, std::uint64_t* done, std::uint64_t total,
                  const FileProgress& progress) {
  out.begin(m.path, m.size);
  std::ifstream in(m.from, std::ios::binary);
  if (!in) throw Error(ErrorCode::kUnavailable, m.from.string() + ": cannot be read");
  Sha256 hash;
  std::uint64_t size = 0;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::string_view piece(buffer.data(), static_cast<size_t>(in.gcount()));
    if (piece.empty()) break;
    if (size + piece.size() > m.size) break;
    hash.update(piece);
    out.write(piece);
    size += piece.size();
    *done += piece.size();
    if (progress) progress(*done, total);
  }
  if (size != m.size || hash.hex() != m.sha256) {
    throw Error(ErrorCode::kDataLoss, m.from.string() +
                                          " changed while the image was saved; nothing was "
                                          "saved, save again");
  }
}

void write_archive(const fs::path& tmp, const json& manifest, const std::vector<Source>& members,
                   const FileProgress& progress) {
  ArchiveWriter out(tmp);
  const std::string text = manifest.dump(2) + "\n";
  out.begin(kManifestName, text.size());
  out.write(text);
  const std::uint64_t total = manifest["bytes"].get<std::uint64_t>();
  std::uint64_t done = 0;
  for (const Source& m : members) write_member(out, m, &done, total, progress);
  out.close();
}

// A staging folder beside FILE for the state.db copy and the config without its secrets
// (what a save killed midway left there is replaced).
fs::path make_staging(const fs::path& file) {
  const fs::path dir = file.string() + ".stage";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorCode::kUnavailable,
                dir.string() + ": cannot create (" + ec.message() + "); nothing was saved");
  }
  return dir;
}

std::vector<Source> all_members(const fs::path& image_dir, const fs::path& stage,
                                const SaveOptions& o, std::vector<std::string>* secrets_left) {
  std::vector<Source> members = image_members(image_dir, o.without_index);
  copy_state_db(image_dir / "state.db", stage / "state.db");
  members.push_back({"state.db", stage / "state.db", 0, ""});
  const std::string config = read_file(image_dir / "config.toml");
  write_file_durably(stage / "config.toml",
                     o.include_secrets ? config : config_without_secrets(config, secrets_left));
  members.push_back({"config.toml", stage / "config.toml", 0, ""});
  if (o.with_models) {
    for (const BaseModel& b : o.models) {
      members.push_back({std::string(image_file::kBaseModelsFolder) + "/" + b.name + "/" +
                             b.path.filename().string(),
                         b.path, 0, ""});
    }
  }
  std::sort(members.begin(), members.end(),
            [](const Source& a, const Source& b) { return a.path < b.path; });
  for (Source& m : members) {
    m.size = fs::file_size(m.from);
    m.sha256 = sha256_file_hex(m.from);
  }
  return members;
}

}  // namespace

std::string config_without_secrets(const std::string& text, std::vector<std::string>* left_out) {
  return image_file::edit_toml_lines(
      text, [left_out](const image_file::TomlLine& l) -> std::optional<std::string> {
        const bool empty = l.value.starts_with("\"\"") || l.value.starts_with("''");
        if (l.key.empty() || !is_secret_key(l.key) || empty) return std::nullopt;
        if (left_out != nullptr) left_out->push_back(l.section + " " + l.key);
        return "# " + l.key + " = (left out of the image file; set it again)";
      });
}

SaveReport save_image_file(const fs::path& image_dir, const fs::path& file,
                           const SaveOptions& options) {
  std::error_code ec;
  if (!fs::exists(image_dir / "image.toml", ec)) {
    throw_not_found(image_dir.string() + ": no image here (no image.toml)");
  }
  const fs::path target = fs::absolute(file);
  const fs::path inside =
      fs::relative(fs::weakly_canonical(target), fs::weakly_canonical(image_dir), ec);
  if (!ec && !inside.empty() && *inside.begin() != "..") {
    throw_invalid_argument(file.string() + ": is inside the image " + image_dir.string() +
                           "; save it elsewhere (the file would be part of itself)");
  }
  const fs::path tmp = target.string() + ".tmp";
  const fs::path stage = make_staging(target);
  SaveReport report;
  try {
    const std::vector<Source> members =
        all_members(image_dir, stage, options, &report.secrets_left);
    report.manifest = manifest_of(image_dir, members, options, report.secrets_left);
    write_archive(tmp, report.manifest, members, options.progress);
    fsync_path(tmp);
    fs::rename(tmp, target, ec);
    if (ec) {
      throw Error(ErrorCode::kUnavailable, target.string() + ": cannot be written (" +
                                               ec.message() + "); nothing was saved");
    }
    fsync_path(target.parent_path());
  } catch (...) {
    fs::remove(tmp, ec);
    fs::remove_all(stage, ec);
    throw;
  }
  fs::remove_all(stage, ec);
  report.file_bytes = fs::file_size(target);
  return report;
}

}  // namespace a4ps
