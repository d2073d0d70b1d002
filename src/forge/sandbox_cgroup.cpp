// forge/sandbox_cgroup: a cgroup around one run, nested under the cgroup this process is in so
// that the host's own limits on A4PS still cover its tools. v1 (memory, pids, cpuacct
// hierarchies) and v2 (a delegated subtree whose subtree_control we can write).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "forge/sandbox_internal.h"

namespace a4ps::forge::detail {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool write_file(const fs::path& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

// This process's cgroup path in the hierarchy named `controller` ("" for v2's "0::").
std::string own_cgroup_path(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::stringstream list(line.substr(a + 1, b - a - 1));
    for (std::string c; std::getline(list, c, ',');)
      if (c == controller) return line.substr(b + 1);
    if (controller.empty() && line.substr(0, b) == "0:") return line.substr(b + 1);
  }
  return {};
}

int64_t value_after(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string k; in >> k;) {
    int64_t v = 0;
    if (!(in >> v)) return 0;
    if (k == key) return v;
  }
  return 0;
}

bool remove_dir(const fs::path& dir) {
  for (int i = 0; i < 50; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

std::unique_ptr<Cgroup> Cgroup::create(const std::string& name, const Limits& limits,
                                       std::string* why) {
  const fs::path root = "/sys/fs/cgroup";
  std::unique_ptr<Cgroup> group;
  if (fs::exists(root / "cgroup.controllers")) {
    const fs::path parent = root / fs::path(own_cgroup_path("")).relative_path();
    // v2 allows controllers in a child only if the parent delegates them to its children.
    write_file(parent / "cgroup.subtree_control", "+memory +pids +cpu");
    const std::string enabled = read_file(parent / "cgroup.subtree_control");
    if (enabled.find("memory") == std::string::npos || enabled.find("pids") == std::string::npos) {
      *why = "cgroup v2: cannot enable memory and pids controllers in " + parent.string();
      return nullptr;
    }
    group.reset(new Cgroup(CgroupVersion::kV2));
    group->dirs_.push_back(parent / name);
  } else {
    group.reset(new Cgroup(CgroupVersion::kV1));
    for (const char* c : {"memory", "pids", "cpuacct"})
      group->dirs_.push_back(root / c / fs::path(own_cgroup_path(c)).relative_path() / name);
  }
  std::vector<fs::path> made;
  for (const auto& dir : group->dirs_) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      *why = "cannot create " + dir.string() + ": " + std::strerror(errno);
      for (const auto& m : made) ::rmdir(m.c_str());
      group->dirs_.clear();
      return nullptr;
    }
    made.push_back(dir);
  }
  const std::string mem = std::to_string(limits.memory_bytes);
  const std::string pids = std::to_string(limits.max_pids);
  bool ok = true;
  if (group->version_ == CgroupVersion::kV2) {
    ok = write_file(group->dirs_[0] / "memory.max", mem) &&
         write_file(group->dirs_[0] / "pids.max", pids);
    write_file(group->dirs_[0] / "memory.swap.max", "0");
  } else {
    ok = write_file(group->dirs_[0] / "memory.limit_in_bytes", mem) &&
         write_file(group->dirs_[1] / "pids.max", pids);
    write_file(group->dirs_[0] / "memory.memsw.limit_in_bytes", mem);  // absent without swap
  }
  if (!ok) {
    *why = "cannot set limits in " + group->dirs_[0].string();
    return nullptr;  // the destructor removes the directories
  }
  return group;
}

Cgroup::~Cgroup() {
  kill_all();
  for (const auto& dir : dirs_) remove_dir(dir);
}

bool Cgroup::add(pid_t pid) const {
  for (const auto& dir : dirs_)
    if (!write_file(dir / "cgroup.procs", std::to_string(pid))) return false;
  return true;
}

int64_t Cgroup::cpu_ns() const {
  if (dirs_.empty()) return 0;
  if (version_ == CgroupVersion::kV2)
    return value_after(read_file(dirs_[0] / "cpu.stat"), "usage_usec") * 1000;
  try {
    return std::stoll(read_file(dirs_[2] / "cpuacct.usage"));
  } catch (const std::exception&) {
    return 0;
  }
}

bool Cgroup::memory_limit_hit() const {
  if (dirs_.empty()) return false;
  if (version_ == CgroupVersion::kV2) {
    const std::string events = read_file(dirs_[0] / "memory.events");
    return value_after(events, "oom_kill") > 0 || value_after(events, "max") > 0;
  }
  if (value_after(read_file(dirs_[0] / "memory.oom_control"), "oom_kill") > 0) return true;
  const std::string failcnt = read_file(dirs_[0] / "memory.failcnt");
  return !failcnt.empty() && failcnt[0] != '0';
}

bool Cgroup::kill_all() const {
  if (dirs_.empty()) return true;
  if (version_ == CgroupVersion::kV2) write_file(dirs_[0] / "cgroup.kill", "1");
  // v1 has no cgroup.kill: SIGKILL every member until none is left (a fork racing the loop is
  // caught on the next round; the pids limit bounds how many there can be).
  for (int round = 0; round < 200; ++round) {
    std::ifstream procs(dirs_[0] / "cgroup.procs");
    bool any = false;
    for (pid_t pid; procs >> pid;) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

CgroupVersion host_cgroup_version(std::string* why) {
  static std::once_flag once;
  static CgroupVersion version = CgroupVersion::kNone;
  static std::string reason;
  std::call_once(once, [] {
    // For testing the fallback on a host that has cgroups; said by `a4ps sandbox check`.
    const char* setting = std::getenv("A4PS_SANDBOX_CGROUPS");
    if (setting != nullptr && std::string_view(setting) == "off") {
      reason = "cgroups turned off by A4PS_SANDBOX_CGROUPS=off";
      return;
    }
    Cgroup::Limits limits{64 << 20, 64};
    auto group = Cgroup::create("a4ps-probe-" + std::to_string(::getpid()), limits, &reason);
    if (group) version = group->version();
  });
  if (why != nullptr) *why = reason;
  return version;
}

std::string_view cgroup_version_name(CgroupVersion version) {
  switch (version) {
    case CgroupVersion::kV1:
      return "cgroup v1";
    case CgroupVersion::kV2:
      return "cgroup v2";
    case CgroupVersion::kNone:
      break;
  }
  return "rlimits and a watchdog";
}

}  // namespace a4ps::forge::detail
