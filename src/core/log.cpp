#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace a4ps::log {
namespace {

Level level_from_env() {
  const char* value = std::getenv("A4PS_LOG");
  if (value == nullptr) return Level::kWarn;
  if (std::strcmp(value, "debug") == 0) return Level::kDebug;
  if (std::strcmp(value, "info") == 0) return Level::kInfo;
  if (std::strcmp(value, "error") == 0) return Level::kError;
  return Level::kWarn;
}

std::atomic<Level>& threshold() {
  static std::atomic<Level> value{level_from_env()};
  return value;
}

std::mutex& output_mutex() {
  static std::mutex mu;
  return mu;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void set_level(Level level) {
  threshold().store(level);
}
Level level() {
  return threshold().load();
}
bool enabled(Level level) {
  return static_cast<int>(level) >= static_cast<int>(threshold().load());
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  std::string line = "a4ps: ";
  line += level_name(level);
  line += ": ";
  line += message;
  if (line.empty() || line.back() != '\n') line += '\n';
  std::lock_guard<std::mutex> lock(output_mutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace a4ps::log
