#include "memory/index_snapshot.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"

namespace a4ps::memory {
namespace {

using nlohmann::json;

constexpr const char* kManifest = "manifest.json";

// An flock held for the life of the object (shared for readers, exclusive for the writer).
class DirLock {
 public:
  DirLock(const std::filesystem::path& dir, int operation)
      : fd_(::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, operation);
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_;
};

std::uint32_t file_crc32(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<uInt>(in.gcount());
    if (got > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), got);
  }
  return static_cast<std::uint32_t>(crc);
}

void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to) {
  fsync_path(from);
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) {
    throw Error(ErrorCode::kUnavailable,
                to.string() + ": cannot write the index snapshot (" + ec.message() + ")");
  }
}

json info_json(const SnapshotInfo& info) {
  return {{"kind", info.kind},   {"embedder", info.embedder},     {"dimension", info.dimension},
          {"count", info.count}, {"covered_id", info.covered_id}, {"params", info.params}};
}

}  // namespace

json index_params(const std::string& kind, const IndexConfig& config) {
  if (kind == "hnsw") {
    return {{"m", config.hnsw_m}, {"ef_construction", config.hnsw_ef_construction}};
  }
  if (kind == "ivf_pq") return {{"nlist", config.ivf_nlist}, {"pq_m", config.pq_m}};
  return json::object();
}

void write_snapshot(const std::filesystem::path& dir, const VectorIndex& index,
                    const SnapshotInfo& info) {
  std::filesystem::create_directories(dir);
  DirLock lock(dir, LOCK_EX);
  const std::string payload_name = "vectors-" + std::to_string(info.covered_id) + "-" +
                                   std::to_string(unix_ms()) + "." + info.kind;
  const auto partial = dir / (payload_name + ".partial");
  index.save(partial);
  const auto payload = dir / payload_name;
  rename_into_place(partial, payload);

  json manifest = info_json(info);
  manifest["format"] = kIndexSnapshotFormat;
  manifest["file"] = payload_name;
  manifest["bytes"] = std::filesystem::file_size(payload);
  manifest["crc32"] = file_crc32(payload);
  manifest["written_ms"] = unix_ms();
  write_file_durably(dir / kManifest, manifest.dump(2) + "\n");
  // Older payloads are no longer named by the manifest.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("vectors-") && name != payload_name) {
      std::error_code ec;
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

LoadedSnapshot read_snapshot(const std::filesystem::path& dir, const SnapshotInfo& wanted,
                             const IndexConfig& config) {
  LoadedSnapshot out;
  const auto manifest_path = dir / kManifest;
  if (!std::filesystem::exists(manifest_path)) {
    out.why_not = "there is no snapshot yet";
    return out;
  }
  DirLock lock(dir, LOCK_SH);
  std::ifstream in(manifest_path);
  const json manifest = json::parse(in, nullptr, false);
  if (!manifest.is_object() || manifest.value("format", 0) != kIndexSnapshotFormat ||
      !manifest.contains("file") || !manifest["file"].is_string()) {
    out.why_not = "its manifest is unreadable or of another format";
    return out;
  }
  const SnapshotInfo& w = wanted;
  if (manifest.value("embedder", "") != w.embedder) {
    out.why_not = "it was made by another embedding model (" + manifest.value("embedder", "") + ")";
    return out;
  }
  if (manifest.value("dimension", 0) != w.dimension) {
    out.why_not = "its vectors have another dimension";
    return out;
  }
  if (manifest.value("kind", "") != w.kind) {
    out.why_not = "it is a " + manifest.value("kind", "") + " index and " + w.kind + " is wanted";
    return out;
  }
  if (manifest.value("params", json::object()) != w.params) {
    out.why_not = "it was built with other index parameters";
    return out;
  }
  const auto payload = dir / manifest["file"].get<std::string>();
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(payload, ec);
  if (ec || bytes != manifest.value("bytes", std::uintmax_t{0}) ||
      file_crc32(payload) != manifest.value("crc32", std::uint32_t{0})) {
    out.why_not = "its file " + payload.filename().string() + " is missing or corrupt";
    return out;
  }
  try {
    out.index = load_vector_index(w.kind, config, w.dimension, payload);
  } catch (const Error& e) {
    out.why_not = std::string("it cannot be read: ") + e.what();
    return out;
  }
  out.info = w;
  out.info.count = manifest.value("count", std::int64_t{0});
  out.info.covered_id = manifest.value("covered_id", std::int64_t{0});
  return out;
}

void remove_snapshot(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / kManifest)) return;
  DirLock lock(dir, LOCK_EX);
  std::error_code ec;
  std::filesystem::remove(dir / kManifest, ec);
}

}  // namespace a4ps::memory
