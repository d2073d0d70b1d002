// forge/sandbox_bwrap: the bubblewrap runtime. Every namespace unshared (network included: bwrap
// fails rather than run without one), uid/gid 65534 in a new user namespace with no
// capabilities and no further user namespaces, a read-only /usr, a size-capped tmpfs /tmp.
// Limits: rlimits set on bwrap before exec (inherited by everything inside), plus the cgroup
// and the watchdog of sandbox_process.
#include <sys/resource.h>

#include "forge/sandbox_internal.h"

namespace a4ps::forge::detail {
namespace {

constexpr const char* kBwrap = "/usr/bin/bwrap";

class BwrapRuntime : public Runtime {
 public:
  SandboxRuntime kind() const override { return SandboxRuntime::kBwrap; }

  SpawnSpec prepare(const SandboxRequest& request, const RunDir& dir,
                    bool have_pids_cgroup) const override {
    const SandboxLimits& l = request.limits;
    SpawnSpec spec;
    spec.argv = {kBwrap,
                 "--unshare-all",
                 "--unshare-user",
                 "--disable-userns",
                 "--die-with-parent",
                 "--new-session",
                 "--uid",
                 std::to_string(kNobody),
                 "--gid",
                 std::to_string(kNobody),
                 "--hostname",
                 "sandbox",
                 "--ro-bind",
                 "/usr",
                 "/usr",
                 "--symlink",
                 "usr/lib",
                 "/lib",
                 "--symlink",
                 "usr/lib64",
                 "/lib64",
                 "--symlink",
                 "usr/bin",
                 "/bin",
                 "--symlink",
                 "usr/sbin",
                 "/sbin",
                 "--ro-bind",
                 dir.etc().string(),
                 "/etc",
                 "--proc",
                 "/proc",
                 "--dev",
                 "/dev",
                 "--size",
                 std::to_string(l.tmp_size_mb * 1024 * 1024),
                 "--tmpfs",
                 "/tmp",
                 "--ro-bind",
                 dir.work().string(),
                 "/work",
                 "--chdir",
                 "/work",
                 "--clearenv",
                 "--cap-drop",
                 "ALL"};
    // /out exists only when it is collected: without it the sandbox has no host-writable path.
    if (request.collect_outputs)
      spec.argv.insert(spec.argv.end(), {"--bind", dir.out().string(), "/out"});
    for (const std::string& e : sandbox_env(request)) {
      const size_t eq = e.find('=');
      spec.argv.insert(spec.argv.end(), {"--setenv", e.substr(0, eq), e.substr(eq + 1)});
    }
    spec.argv.push_back("--");
    if (!have_pids_cgroup) {
      // RLIMIT_NPROC counts per user and user namespace: set inside the new namespace it counts
      // the sandbox's own processes (set on bwrap, it would count all of the host user's).
      spec.argv.insert(spec.argv.end(),
                       {"/usr/bin/prlimit", "--nproc=" + std::to_string(l.max_processes), "--"});
    }
    spec.argv.insert(spec.argv.end(), request.argv.begin(), request.argv.end());
    spec.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
    spec.rlimits = {{RLIMIT_AS, l.memory_mb * 1024 * 1024},
                    {RLIMIT_CPU, l.cpu_ms / 1000 + 2},  // a backstop: the watchdog acts first
                    {RLIMIT_NOFILE, l.max_open_files},
                    {RLIMIT_FSIZE, l.max_file_mb * 1024 * 1024},
                    {RLIMIT_CORE, 0}};
    return spec;
  }

  // bwrap is pid 1 of the sandbox's pid namespace: when it dies the kernel kills the rest.
  void kill_tree(const RunDir&) const override {}
  void cleanup(const RunDir&, bool) const override {}

  bool installed(std::string* version_or_why) const override {
    std::string out;
    if (run_helper({kBwrap, "--version"}, &out, 5000) != 0) {
      *version_or_why =
          "not installed (Debian package bubblewrap): " + std::string(kBwrap) + " --version failed";
      return false;
    }
    *version_or_why = out.substr(0, out.find('\n'));
    return true;
  }
};

}  // namespace

std::unique_ptr<Runtime> make_bwrap_runtime() {
  return std::make_unique<BwrapRuntime>();
}

}  // namespace a4ps::forge::detail
