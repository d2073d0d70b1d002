// core/clock: wall-clock time as stored in state.db (Unix milliseconds), and the Clock
// interface that code deciding by time (the Motivator's timers, the autonomy policy) takes, so
// that tests move time by hand instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace a4ps {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Thread-safe: now_ms() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Unix milliseconds.
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override { return unix_ms(); }
};

// The process's real clock; lives as long as the process.
inline const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

// A clock that moves only when told to: for tests and simulations.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_ms_(start_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(); }
  void set_ms(std::int64_t ms) { now_ms_.store(ms); }
  void advance_ms(std::int64_t ms) { now_ms_.fetch_add(ms); }
  void advance_seconds(std::int64_t seconds) { advance_ms(seconds * 1000); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace a4ps
