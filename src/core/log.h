// core/log: leveled logging to stderr. Thread-safe: one line is written atomically.
// A4PS_LOG=debug|info|warn|error sets the threshold (default: warn, so a terminal user
// sees the answer, not the machinery).
#pragma once

#include <string_view>

namespace a4ps::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) {
  write(Level::kDebug, m);
}
inline void info(std::string_view m) {
  write(Level::kInfo, m);
}
inline void warn(std::string_view m) {
  write(Level::kWarn, m);
}
inline void error(std::string_view m) {
  write(Level::kError, m);
}

}  // namespace a4ps::log
