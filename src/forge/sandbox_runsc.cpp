// forge/sandbox_runsc: the gVisor runtime. `runsc run` on a generated OCI bundle (never
// `runsc do`, which shows the sandbox the host's whole / read-only), rootless, with
// --network=none (rootless without it would silently share the host network) and a private
// --root state directory per run, so concurrent runs share nothing. --ignore-cgroups keeps the
// sandbox and gofer in our cgroup, where memory, pids and CPU are enforced: gVisor enforces no
// resource limits itself, and capping runsc's address space crashes it. gVisor does honour the
// OCI rlimits it is given for the processes inside (RLIMIT_NPROC, RLIMIT_AS, RLIMIT_FSIZE,
// RLIMIT_NOFILE; not RLIMIT_CPU), and the tmpfs size.
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "forge/sandbox_internal.h"

namespace a4ps::forge::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRunsc = "/usr/bin/runsc";

json bind(const std::string& destination, const fs::path& source, const char* mode) {
  return {{"destination", destination},
          {"type", "bind"},
          {"source", source.string()},
          {"options", {mode, "rbind", "nosuid", "nodev"}}};
}

json rlimit(const char* type, int64_t value) {
  return {{"type", type}, {"hard", value}, {"soft", value}};
}

json oci_spec(const SandboxRequest& request, const RunDir& dir) {
  const SandboxLimits& l = request.limits;
  json process = {
      {"terminal", false},
      {"user", {{"uid", kNobody}, {"gid", kNobody}}},
      {"args", request.argv},
      {"env", sandbox_env(request)},
      {"cwd", "/work"},
      {"noNewPrivileges", true},
      {"capabilities",
       {{"bounding", json::array()},
        {"effective", json::array()},
        {"permitted", json::array()},
        {"inheritable", json::array()},
        {"ambient", json::array()}}},
      {"rlimits",
       {rlimit("RLIMIT_NOFILE", l.max_open_files), rlimit("RLIMIT_NPROC", l.max_processes),
        rlimit("RLIMIT_AS", l.memory_mb * 1024 * 1024),
        rlimit("RLIMIT_FSIZE", l.max_file_mb * 1024 * 1024),
        rlimit("RLIMIT_CPU", l.cpu_ms / 1000 + 2), rlimit("RLIMIT_CORE", 0)}}};
  json mounts = {bind("/usr", "/usr", "ro"),
                 bind("/etc", dir.etc(), "ro"),
                 bind("/work", dir.work(), "ro"),
                 {{"destination", "/tmp"},
                  {"type", "tmpfs"},
                  {"source", "tmpfs"},
                  {"options", {"nosuid", "nodev", "size=" + std::to_string(l.tmp_size_mb) + "m"}}},
                 {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                 {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}}};
  // /out exists only when it is collected: without it the sandbox has no host-writable path.
  if (request.collect_outputs) mounts.push_back(bind("/out", dir.out(), "rw"));
  json namespaces = json::array();
  for (const char* ns : {"pid", "network", "ipc", "uts", "mount"})
    namespaces.push_back({{"type", ns}});
  return {{"ociVersion", "1.0.2"},
          {"process", process},
          {"root", {{"path", "rootfs"}, {"readonly", true}}},
          {"hostname", "sandbox"},
          {"mounts", mounts},
          {"linux", {{"namespaces", namespaces}}}};
}

// The skeleton root: empty mount points and the /lib, /bin links into the bound /usr.
void make_rootfs(const fs::path& rootfs, bool with_out) {
  fs::create_directories(rootfs);
  for (const char* d : {"usr", "etc", "work", "tmp", "proc", "dev"})
    fs::create_directory(rootfs / d);
  if (with_out) fs::create_directory(rootfs / "out");
  for (const char* l : {"lib", "lib64", "bin", "sbin"})
    fs::create_symlink(fs::path("usr") / l, rootfs / l);
}

fs::path state_dir(const RunDir& dir) {
  return dir.root() / "state";
}

class RunscRuntime : public Runtime {
 public:
  SandboxRuntime kind() const override { return SandboxRuntime::kRunsc; }

  SpawnSpec prepare(const SandboxRequest& request, const RunDir& dir, bool) const override {
    make_rootfs(dir.root() / "rootfs", request.collect_outputs);
    fs::create_directory(state_dir(dir));
    std::ofstream(dir.root() / "config.json") << oci_spec(request, dir).dump();
    SpawnSpec spec;
    spec.argv = {kRunsc,
                 "--rootless",
                 "--network=none",
                 "--ignore-cgroups",
                 "--root",
                 state_dir(dir).string(),
                 "run",
                 "--bundle",
                 dir.root().string(),
                 dir.id()};
    spec.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
    spec.rlimits = {{RLIMIT_CORE, 0}};
    return spec;
  }

  void kill_tree(const RunDir& dir) const override {
    run_helper({kRunsc, "--root", state_dir(dir).string(), "kill", "--all", dir.id(), "KILL"},
               nullptr, 5000);
  }

  // `runsc run` deletes its container when the container exits by itself; a killed run leaves
  // state behind. When the cgroup shows every process dead, that state is only files in our
  // run directory; otherwise `delete --force` (slow: it waits for the sandbox) removes it.
  void cleanup(const RunDir& dir, bool all_dead) const override {
    std::error_code ec;
    if (all_dead || fs::is_empty(state_dir(dir), ec)) return;
    run_helper({kRunsc, "--root", state_dir(dir).string(), "delete", "--force", dir.id()}, nullptr,
               5000);
  }

  bool installed(std::string* version_or_why) const override {
    std::string out;
    if (run_helper({kRunsc, "--version"}, &out, 5000) != 0) {
      *version_or_why =
          "not installed (Debian package runsc): " + std::string(kRunsc) + " --version failed";
      return false;
    }
    *version_or_why = out.substr(0, out.find('\n'));
    return true;
  }
};

}  // namespace

std::unique_ptr<Runtime> make_runsc_runtime() {
  return std::make_unique<RunscRuntime>();
}

}  // namespace a4ps::forge::detail
