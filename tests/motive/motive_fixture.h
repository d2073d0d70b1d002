// Test helper for motive/: a fresh image state.db with a real checkpointer (whose journal holds
// the bus events runs publish), a goal store on a manual clock, and ways to stand in for a
// workflow run: journal an event as a step does, record a finished user run.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/clock.h"
#include "core/config.h"
#include "graph/checkpointer.h"
#include "image/sqlite.h"
#include "motive/event_bus.h"
#include "motive/goals.h"
#include "support/test_models.h"

namespace a4ps::motive::testing {

using nlohmann::json;

// A day ago, so that runs the checkpointer stamps with the real clock are "later" only when a
// test says so (finish_user_run sets their time).
inline std::int64_t test_start_ms() {
  return unix_ms() - 24LL * 3600 * 1000;
}

struct MotiveFixture {
  explicit MotiveFixture(const std::string& name) : clock(test_start_ms()) {
    const auto dir = a4ps::testing::scratch_dir() / "motive" / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db_path = dir / "state.db";
    log = graph::Checkpointer::open(db_path);
    goals = GoalStore::open(db_path, clock);
  }

  // Journals a bus event the way a workflow step does (NodeContext::once("event")).
  void publish(const std::string& topic, const json& payload) {
    const graph::JournalEntry entry{
        "measure", "event", "0", {{"topic", topic}, {"payload", payload}}};
    log->record_journal("t-events", ++checkpoint, "", entry, {});
  }

  json dissonance(const std::string& task, double score, const std::string& run) const {
    return {{"task", task},
            {"brick", "BRICK's position on " + task},
            {"robin", "ROBIN's position on " + task},
            {"score", score},
            {"parts", {{"embedding_distance", score}, {"judged", score}}},
            {"thread", "t-user"},
            {"run", run}};
  }

  json tool_failed(const std::string& capability, const std::string& reason,
                   const std::string& run) const {
    return {{"capability", capability},         {"name", "tool_x"},   {"attempts", 1},
            {"reasons", json::array({reason})}, {"thread", "t-user"}, {"run", run}};
  }

  // A workflow run of a person's, done at `finished_ms`; returns its run id.
  std::string finish_user_run(const std::string& task, std::int64_t finished_ms) {
    const graph::ThreadInfo thread =
        log->create_thread("", "a4ps", {{"task", graph::Reducer::kReplace}}, json::object());
    const graph::RunInfo run =
        log->begin_run(thread.id, {{"task", task}}, graph::BusyPolicy::kRefuse);
    log->set_run_status(run.id, "done");
    auto db = sql::Database::open(db_path.string());
    db->prepare("UPDATE runs SET updated_ms = ? WHERE id = ?")
        .bind(1, finished_ms)
        .bind(2, run.id)
        .run();
    return run.id;
  }

  std::filesystem::path db_path;
  ManualClock clock;
  std::unique_ptr<graph::Checkpointer> log;
  std::unique_ptr<GoalStore> goals;
  std::int64_t checkpoint = 0;
};

inline MotivatorConfig test_config() {
  MotivatorConfig c;
  c.dissonance_threshold = 0.8;
  c.curiosity_interval_seconds = 3600;
  c.max_chain_depth = 2;
  c.reflection_episodes = 5;
  return c;
}

}  // namespace a4ps::motive::testing
