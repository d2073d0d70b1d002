// The delay from a dissonance event to its goal being queued. A workflow step journals the
// COGNITIVE_DISSONANCE event (the reference: what the run itself pays to store it); the
// Motivator's next poll reads it after its cursor and queues the synthesis goal. Measured on a
// state.db on disk whose journal already holds BACKLOG other entries (model calls) before the
// cursor, to show the poll does not scan what it has read: per event, the journal write, the
// poll that makes its goal, and their ratio; then a poll that finds nothing.
// usage: a4ps_bench_goal_delay DIR [EVENTS] [BACKLOG]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/clock.h"
#include "core/config.h"
#include "graph/checkpointer.h"
#include "image/state_db.h"
#include "motive/goals.h"
#include "motive/motivator.h"

namespace {

using a4ps::graph::Checkpointer;
using a4ps::graph::JournalEntry;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

double us_since(Steady::time_point t0) {
  return std::chrono::duration<double, std::micro>(Steady::now() - t0).count();
}

json dissonance(int i) {
  const std::string task = "task number " + std::to_string(i) + " about the atlas";
  return {{"topic", "COGNITIVE_DISSONANCE"},
          {"payload",
           {{"task", task},
            {"brick", "BRICK's position on " + task},
            {"robin", "ROBIN's position on " + task},
            {"score", 0.9},
            {"parts", {{"embedding_distance", 0.9}, {"judged", 0.9}}},
            {"thread", "t-user"},
            {"run", "r-" + std::to_string(i)}}}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: a4ps_bench_goal_delay DIR [EVENTS] [BACKLOG]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int events = argc > 2 ? std::stoi(argv[2]) : 200;
  const int backlog = argc > 3 ? std::stoi(argv[3]) : 20000;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto db = dir / "state.db";
  a4ps::migrate_state_db(db);
  auto log = Checkpointer::open(db);
  std::int64_t checkpoint = 0;
  const json model_call = {{"text", std::string(400, 'x')}, {"prompt_tokens", 300}};
  for (int i = 0; i < backlog; ++i) {
    log->record_journal("t-old", ++checkpoint, "", {"brick_propose", "model", "0", model_call}, {});
  }
  a4ps::SystemClock clock;
  auto goals = a4ps::motive::GoalStore::open(db, clock);
  a4ps::MotivatorConfig config;
  config.dissonance_threshold = 0.5;
  config.curiosity_interval_seconds = 1'000'000;
  a4ps::motive::Motivator motivator(config, *log, *goals);
  motivator.poll(clock.now_ms());  // the cursor passes the backlog once, as after an upgrade

  double journal_us = 0;
  double poll_us = 0;
  int queued = 0;
  for (int i = 0; i < events; ++i) {
    auto t0 = Steady::now();
    log->record_journal("t-user", ++checkpoint, "", {"measure", "event", "0", dissonance(i)}, {});
    journal_us += us_since(t0);
    t0 = Steady::now();
    const auto result = motivator.poll(clock.now_ms());
    poll_us += us_since(t0);
    queued += static_cast<int>(result.changes.size());
  }
  double idle_us = 0;
  for (int i = 0; i < events; ++i) {
    const auto t0 = Steady::now();
    motivator.poll(clock.now_ms());
    idle_us += us_since(t0);
  }
  std::printf("goal delay over %d dissonance events, journal backlog %d entries (%s)\n", events,
              backlog, db.c_str());
  std::printf("  journal the event (reference)   %9.1f us\n", journal_us / events);
  std::printf("  poll that queues its goal       %9.1f us   %.2fx the reference\n",
              poll_us / events, poll_us / journal_us);
  std::printf("  poll that finds nothing         %9.1f us   %.2fx the reference\n",
              idle_us / events, idle_us / journal_us);
  std::printf("  goals changed: %d (of %d events)\n", queued, events);
  return queued == events ? 0 : 1;
}
