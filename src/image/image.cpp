#include "image/image.h"

#include <fcntl.h>
#include <signal.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/files.h"
#include "image/state_db.h"

namespace a4ps {
namespace {

const char* kFolders[] = {"codex/history", "index", "tools", "adapters", "models", "datasets"};

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct Manifest {
  int format_version = 0;
  std::string id;
  std::string created;
};

std::string manifest_text(const Manifest& m, const std::string& last_opened) {
  return "# A4PS image manifest (docs/formats/image.md)\n"
         "format_version = " +
         std::to_string(kImageFormatVersion) + "\nid = \"" + m.id + "\"\ncreated = \"" + m.created +
         "\"\nlast_opened = \"" + last_opened + "\"\n";
}

std::string new_image_id() {
  std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "img-";
  for (int i = 0; i < 4; ++i) {
    const unsigned bits = device();
    for (int j = 0; j < 4; ++j) id += kHex[(bits >> (4 * j)) & 0xfU];
  }
  return id;
}

bool process_alive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

std::filesystem::path lock_path(const std::filesystem::path& dir) {
  return dir / "lock";
}

pid_t read_lock_pid(const std::filesystem::path& dir) {
  std::ifstream in(lock_path(dir));
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

std::string unlock_hint(const std::filesystem::path& dir) {
  return "run `a4ps image unlock " + dir.string() + "` to clear it";
}

// Creates the lock file exclusively, holding this process's pid.
void take_lock(const std::filesystem::path& dir) {
  const int fd = ::open(lock_path(dir).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) {
    if (errno != EEXIST) {
      throw Error(ErrorCode::kUnavailable, lock_path(dir).string() + ": cannot create the lock");
    }
    const pid_t holder = read_lock_pid(dir);
    if (process_alive(holder)) {
      throw Error(ErrorCode::kFailedPrecondition,
                  dir.string() + ": the image is in use by process " + std::to_string(holder) +
                      " (one writer per image)");
    }
    throw Error(ErrorCode::kFailedPrecondition,
                dir.string() + ": stale lock left by process " + std::to_string(holder) +
                    ", which is no longer running; " + unlock_hint(dir));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  const bool written = ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
  ::close(fd);
  if (!written) {
    std::filesystem::remove(lock_path(dir));
    throw Error(ErrorCode::kUnavailable, lock_path(dir).string() + ": cannot write the lock");
  }
}

Manifest read_manifest(const std::filesystem::path& dir) {
  const std::filesystem::path manifest = dir / "image.toml";
  try {
    const toml::table t = toml::parse_file(manifest.string());
    Manifest m;
    m.created = t["created"].value_or(std::string());
    m.id = t["id"].value_or(std::string());  // images made before ids get one at their next open
    const auto version = t["format_version"].value<int64_t>();
    if (!version) throw Error(ErrorCode::kDataLoss, manifest.string() + ": no format_version");
    m.format_version = static_cast<int>(*version);
    return m;
  } catch (const toml::parse_error& e) {
    throw Error(ErrorCode::kDataLoss,
                manifest.string() + ": unreadable manifest: " + std::string(e.description()));
  }
}

}  // namespace

std::filesystem::path default_image_dir() {
  if (const char* env = std::getenv("A4PS_IMAGE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "a4ps" / "image";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : ".") / ".local/share/a4ps/image";
}

void Image::create(const std::filesystem::path& dir, const std::string& codex_text) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
    throw Error(ErrorCode::kFailedPrecondition,
                dir.string() +
                    ": already exists and is not empty; an image is created in a new "
                    "or empty directory");
  }
  for (const char* folder : kFolders) std::filesystem::create_directories(dir / folder, ec);
  if (ec)
    throw Error(ErrorCode::kUnavailable, dir.string() + ": cannot create (" + ec.message() + ")");
  write_file_durably(dir / "config.toml", render_default_config());
  write_file_durably(dir / "codex" / "persona_codex.toml", codex_text);
  migrate_state_db(dir / "state.db");
  // The manifest last: a directory without it is not an image, so a crash mid-create is
  // recognisable and harmless.
  const std::string now = now_utc();
  write_file_durably(dir / "image.toml",
                     manifest_text({kImageFormatVersion, new_image_id(), now}, now));
}

std::unique_ptr<Image> Image::open(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "image.toml", ec)) {
    throw_not_found(dir.string() + ": no image here (no image.toml); create one with `a4ps init " +
                    dir.string() + "`");
  }
  Manifest manifest = read_manifest(dir);
  const int format = manifest.format_version;
  if (format > kImageFormatVersion) {
    throw Error(ErrorCode::kFailedPrecondition,
                dir.string() + ": image format " + std::to_string(format) +
                    " is newer than this build's " + std::to_string(kImageFormatVersion));
  }
  take_lock(dir);
  std::unique_ptr<Image> image(new Image(dir));
  image->locked_ = true;
  image->schema_version_ = migrate_state_db(image->state_db_path());
  if (manifest.id.empty()) manifest.id = new_image_id();
  image->id_ = manifest.id;
  write_file_durably(dir / "image.toml", manifest_text(manifest, now_utc()));
  return image;
}

void Image::clear_stale_lock(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(lock_path(dir), ec)) return;
  const pid_t holder = read_lock_pid(dir);
  if (process_alive(holder)) {
    throw Error(ErrorCode::kFailedPrecondition, dir.string() + ": the lock belongs to process " +
                                                    std::to_string(holder) +
                                                    ", which is running; stop it instead");
  }
  std::filesystem::remove(lock_path(dir), ec);
}

Image::~Image() {
  if (!locked_) return;
  std::error_code ec;
  if (read_lock_pid(dir_) == getpid()) std::filesystem::remove(lock_path(dir_), ec);
}

std::string read_image_id(const std::filesystem::path& dir) {
  return read_manifest(dir).id;
}

std::string give_new_image_id(const std::filesystem::path& dir) {
  Manifest manifest = read_manifest(dir);
  manifest.id = new_image_id();
  write_file_durably(dir / "image.toml", manifest_text(manifest, now_utc()));
  return manifest.id;
}

}  // namespace a4ps
