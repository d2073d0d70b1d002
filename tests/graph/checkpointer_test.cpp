#include "graph/checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "core/error.h"
#include "graph/runner.h"
#include "image/state_db.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps::graph {
namespace {

using nlohmann::json;
const std::string kEndNode(kEnd);

std::filesystem::path fresh_db(const std::string& name) {
  const auto dir = testing::scratch_dir() / "checkpointer" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir / "state.db";
}

using testing::code_of;

// draft -> review (asks a human) -> publish; "calls" counts real model calls.
CompiledGraph review_graph(std::atomic<int>& calls) {
  StateGraph g;
  g.set_name("review")
      .add_channel("log", Reducer::kAppend)
      .add_channel("draft", Reducer::kReplace)
      .add_channel("meta", Reducer::kMerge)
      .add_node("draft", {"draft", "log"},
                [&calls](NodeContext& ctx) {
                  const json text = ctx.once("model", [&] {
                    ++calls;
                    return json("a gentle welcome");
                  });
                  ctx.emit_token("a gentle ");
                  ctx.emit_token("welcome");
                  return Update{{"draft", text}, {"log", "drafted"}};
                })
      .add_node("review", {"log", "meta"},
                [](NodeContext& ctx) {
                  const json verdict = ctx.interrupt(
                      {{"question", "approve the draft?"}, {"draft", ctx.state()["draft"]}});
                  return Update{{"log", "reviewed"}, {"meta", {{"approved", verdict}}}};
                })
      .add_node("publish", {"log"},
                [](const State& s) {
                  return Update{{"log", s["meta"]["approved"] == true ? "published" : "held"}};
                })
      .add_edge("draft", "review")
      .add_edge("review", "publish")
      .add_edge("publish", kEndNode)
      .set_entry_point("draft");
  return g.compile();
}

TEST(Checkpointer, EveryStepIsACheckpointThatLoadsBackItsState) {
  auto cp = Checkpointer::open(fresh_db("steps"));
  StateGraph g;
  g.set_name("count")
      .add_channel("n", Reducer::kReplace, 0)
      .add_channel("seen", Reducer::kAppend)
      .add_channel("tags", Reducer::kMerge)
      .add_node(
          "tick", {"n", "seen", "tags"},
          [](const State& s) {
            const int n = s["n"].get<int>() + 1;
            return Update{{"n", n}, {"seen", n}, {"tags", {{"t" + std::to_string(n % 3), n}}}};
          })
      .add_conditional_edges(
          "tick",
          [](const State& s) {
            return std::vector<std::string>{s["n"] == 40 ? kEndNode : std::string("tick")};
          },
          {"tick", kEndNode})
      .set_entry_point("tick");
  std::vector<State> seen_states;
  RunOptions options;
  const RunResult r = start_run(g.compile(), *cp, "counter", nullptr, options);
  ASSERT_EQ(r.status, RunStatus::kDone) << r.error;
  EXPECT_EQ(r.steps, 40);
  const auto history = cp->history("counter");
  ASSERT_EQ(history.size(), 41u);  // the input, then one per step
  EXPECT_EQ(history.back().pending, std::vector<std::string>{});
  EXPECT_EQ(history[5].pending, std::vector<std::string>{"tick"});
  EXPECT_EQ(history[5].metadata["writers"], json::array({"tick"}));
  for (std::int64_t id : {0, 1, 15, 16, 17, 33, 40}) {
    const State s = cp->load("counter", id).state;
    EXPECT_EQ(s["n"], id);
    EXPECT_EQ(s["seen"].size(), static_cast<size_t>(id));
    if (id >= 3) {
      EXPECT_EQ(s["tags"]["t0"], id - id % 3) << id;
    }
  }
  EXPECT_EQ(cp->load("counter").state, r.state);
  EXPECT_EQ(code_of([&] { cp->load("counter", 41); }), ErrorCode::kNotFound);
  EXPECT_EQ(code_of([&] { cp->load("nope"); }), ErrorCode::kNotFound);
}

TEST(Checkpointer, InterruptStoresTheRunAndResumePassesTheValue) {
  auto cp = Checkpointer::open(fresh_db("interrupt"));
  std::atomic<int> calls{0};
  const CompiledGraph graph = review_graph(calls);
  const RunResult first = start_run(graph, *cp, "t1", nullptr);
  ASSERT_EQ(first.status, RunStatus::kInterrupted) << first.error;
  ASSERT_EQ(first.interrupts.size(), 1u);
  EXPECT_EQ(first.interrupts[0].node, "review");
  EXPECT_EQ(first.interrupts[0].payload["draft"], "a gentle welcome");
  EXPECT_EQ(cp->get_run(first.run_id).status, "interrupted");
  std::string message;
  EXPECT_EQ(code_of([&] { resume_run(graph, *cp, "t1"); }, &message),
            ErrorCode::kFailedPrecondition);
  EXPECT_NE(message.find(first.interrupts[0].id), std::string::npos) << message;
  EXPECT_EQ(code_of([&] {
              resume_run(graph, *cp, "t1", {{"9:nope.0", true}});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { start_run(graph, *cp, "t1", nullptr); }),
            ErrorCode::kFailedPrecondition);  // unfinished work is never silently forked

  const RunResult second = resume_run(graph, *cp, "t1", {{first.interrupts[0].id, true}});
  ASSERT_EQ(second.status, RunStatus::kDone) << second.error;
  EXPECT_EQ(second.run_id, first.run_id);  // the same run continues
  EXPECT_EQ(second.state["log"], json({"drafted", "reviewed", "published"}));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(cp->get_run(first.run_id).status, "done");
  EXPECT_EQ(code_of([&] { resume_run(graph, *cp, "t1"); }), ErrorCode::kFailedPrecondition);
}

TEST(Checkpointer, ParallelInterruptsEachKeepTheirOwnId) {
  auto cp = Checkpointer::open(fresh_db("two_interrupts"));
  std::atomic<int> left_runs{0};
  StateGraph g;
  g.set_name("two")
      .add_channel("answers", Reducer::kMerge)
      .add_node("start", {}, [](const State&) { return Update(); })
      .add_node("left", {"answers"},
                [&](NodeContext& ctx) {
                  ++left_runs;
                  return Update{{"answers", {{"left", ctx.interrupt("left?")}}}};
                })
      .add_node("right", {"answers"},
                [](NodeContext& ctx) {
                  return Update{{"answers", {{"right", ctx.interrupt("right?")}}}};
                })
      .add_edge("start", "left")
      .add_edge("start", "right")
      .add_edge("left", kEndNode)
      .add_edge("right", kEndNode)
      .set_entry_point("start");
  const CompiledGraph graph = g.compile();
  const RunResult first = start_run(graph, *cp, "both", nullptr);
  ASSERT_EQ(first.status, RunStatus::kInterrupted);
  ASSERT_EQ(first.interrupts.size(), 2u);
  const PendingInterrupt left = first.interrupts[0];
  const PendingInterrupt right = first.interrupts[1];
  EXPECT_EQ(left.payload, "left?");
  EXPECT_EQ(right.payload, "right?");
  EXPECT_NE(left.id, right.id);
  EXPECT_EQ(code_of([&] {
              resume_run(graph, *cp, "both", {{"", 1}});
            }),
            ErrorCode::kInvalidArgument);  // which one?

  const RunResult half = resume_run(graph, *cp, "both", {{right.id, "R"}});
  ASSERT_EQ(half.status, RunStatus::kInterrupted);
  ASSERT_EQ(half.interrupts.size(), 1u);
  EXPECT_EQ(half.interrupts[0].id, left.id);
  const RunResult done = resume_run(graph, *cp, "both", {{left.id, "L"}});
  ASSERT_EQ(done.status, RunStatus::kDone) << done.error;
  EXPECT_EQ(done.state["answers"], json({{"left", "L"}, {"right", "R"}}));
  EXPECT_EQ(left_runs.load(), 3);
}

TEST(Checkpointer, ForkStartsANewThreadFromAnyCheckpointWithAnUpdate) {
  auto cp = Checkpointer::open(fresh_db("fork"));
  std::atomic<int> calls{0};
  const CompiledGraph graph = review_graph(calls);
  const RunResult first = start_run(graph, *cp, "origin", nullptr);
  ASSERT_EQ(first.status, RunStatus::kInterrupted);
  const RunResult done = resume_run(graph, *cp, "origin", {{"", false}});
  ASSERT_EQ(done.status, RunStatus::kDone);
  EXPECT_EQ(done.state["log"].back(), "held");

  // Back to the checkpoint after the draft, with another draft.
  const ThreadInfo fork = cp->fork("origin", 1, {{"draft", "a warmer welcome"}}, "alt");
  EXPECT_EQ(fork.parent_thread, "origin");
  EXPECT_EQ(fork.parent_checkpoint, 1);
  const Checkpoint start = cp->load("alt");
  EXPECT_EQ(start.state["draft"], "a warmer welcome");
  EXPECT_EQ(start.info.pending, std::vector<std::string>{"review"});
  const RunResult forked = resume_run(graph, *cp, "alt");
  ASSERT_EQ(forked.status, RunStatus::kInterrupted);
  EXPECT_EQ(forked.interrupts[0].payload["draft"], "a warmer welcome");
  const RunResult approved = resume_run(graph, *cp, "alt", {{"", true}});
  EXPECT_EQ(approved.state["log"], json({"drafted", "reviewed", "published"}));
  EXPECT_EQ(cp->load("origin").state["log"].back(), "held");  // the original is untouched
  EXPECT_EQ(calls.load(), 1);

  EXPECT_EQ(code_of([&] { cp->fork("origin", 99, nullptr, ""); }), ErrorCode::kNotFound);
  EXPECT_EQ(code_of([&] {
              cp->fork("origin", 1, {{"nope", 1}}, "");
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { cp->fork("origin", 1, nullptr, "alt"); }),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(code_of([&] { cp->fork("origin", 1, nullptr, "bad id!"); }),
            ErrorCode::kInvalidArgument);
}

TEST(Checkpointer, OneWriterPerThreadRefusesOrQueues) {
  auto cp = Checkpointer::open(fresh_db("busy"), {Durability::kNormal, 16, 5000});
  std::atomic<bool> release{false};
  std::atomic<bool> entered{false};
  StateGraph g;
  g.set_name("slow")
      .add_channel("log", Reducer::kAppend)
      .add_node("work", {"log"},
                [&](const State&) {
                  entered = true;
                  while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                  return Update{{"log", "worked"}};
                })
      .add_edge("work", kEndNode)
      .set_entry_point("work");
  const CompiledGraph graph = g.compile();
  std::thread first([&] { start_run(graph, *cp, "busy", nullptr); });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::string message;
  EXPECT_EQ(code_of([&] { start_run(graph, *cp, "busy", nullptr); }, &message),
            ErrorCode::kFailedPrecondition);
  EXPECT_NE(message.find("thread busy is busy: run r-"), std::string::npos) << message;

  RunOptions queued;
  queued.busy = BusyPolicy::kQueue;
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  const RunResult second = start_run(graph, *cp, "busy", nullptr, queued);
  first.join();
  releaser.join();
  EXPECT_EQ(second.status, RunStatus::kDone);
  EXPECT_EQ(second.state["log"], json({"worked", "worked"}));
  EXPECT_EQ(cp->list_runs("busy").size(), 2u);
}

TEST(Checkpointer, JournaledCallsAreNotRepeatedWhenAFailedStepIsResumed) {
  auto cp = Checkpointer::open(fresh_db("retry"));
  std::atomic<int> model_calls{0};
  std::atomic<int> attempts{0};
  StateGraph g;
  g.set_name("flaky")
      .add_channel("answer", Reducer::kReplace)
      .add_node("think", {"answer"},
                [&](NodeContext& ctx) {
                  const json thought = ctx.once("model", [&] {
                    ++model_calls;
                    return json("thought");
                  });
                  if (++attempts == 1) throw std::runtime_error("tool server down");
                  return Update{{"answer", thought}};
                })
      .add_edge("think", kEndNode)
      .set_entry_point("think");
  const CompiledGraph graph = g.compile();
  const RunResult failed = start_run(graph, *cp, "flaky", {{"answer", "?"}});
  ASSERT_EQ(failed.status, RunStatus::kError);
  EXPECT_EQ(failed.failed_node, "think");
  EXPECT_EQ(failed.failed_input["answer"], "?");
  const RunInfo run = cp->get_run(failed.run_id);
  EXPECT_EQ(run.status, "error");
  EXPECT_EQ(run.error, "tool server down");
  EXPECT_EQ(run.error_node, "think");
  const RunResult resumed = resume_run(graph, *cp, "flaky");
  EXPECT_EQ(resumed.status, RunStatus::kDone);
  EXPECT_EQ(resumed.state["answer"], "thought");
  EXPECT_EQ(model_calls.load(), 1);
  const auto journal = cp->journal("flaky", 0);
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].kind, "model");
  EXPECT_EQ(journal[0].value, "thought");
}

TEST(Checkpointer, EventsArePersistedWithASequenceAConsumerCanContinueFrom) {
  auto cp = Checkpointer::open(fresh_db("events"));
  std::atomic<int> calls{0};
  const CompiledGraph graph = review_graph(calls);
  std::vector<EventRecord> live;
  RunOptions options;
  options.on_event = [&](const EventRecord& e) { live.push_back(e); };
  const RunResult first = start_run(graph, *cp, "ev", nullptr, options);
  resume_run(graph, *cp, "ev", {{"", true}}, options);
  const auto stored = cp->events(first.run_id);
  ASSERT_EQ(stored.size(), live.size());
  std::vector<std::string> kinds;
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(stored[i].kind, live[i].kind);
    kinds.push_back(stored[i].kind);
  }
  const std::vector<std::string> expected = {
      "run_started",  "node_started",  "token",        "token",        "node_finished",
      "state_update", "node_started",  "interrupt",    "run_finished", "run_started",
      "node_started", "node_finished", "state_update", "node_started", "node_finished",
      "state_update", "run_finished"};
  EXPECT_EQ(kinds, expected);
  EXPECT_EQ(stored[2].data["text"], "a gentle ");
  const auto rest = cp->events(first.run_id, 9);
  ASSERT_EQ(rest.size(), stored.size() - 9);
  EXPECT_EQ(rest.front().seq, 10);
  EXPECT_EQ(rest.front().data["resumed"], true);
  EXPECT_EQ(stored.back().data["status"], "done");
}

TEST(Checkpointer, RunsLeftRunningByADeadProcessAreMarkedCrashed) {
  const auto path = fresh_db("crashed");
  {
    auto cp = Checkpointer::open(path);
    cp->create_thread("t", "g", {{"x", Reducer::kReplace}}, {});
    cp->begin_run("t", nullptr, BusyPolicy::kRefuse);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE runs SET pid = 2147483000", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto cp = Checkpointer::open(path);
  const auto crashed = cp->recover_crashed_runs();
  ASSERT_EQ(crashed.size(), 1u);
  EXPECT_EQ(crashed[0].thread_id, "t");
  EXPECT_EQ(cp->get_run(crashed[0].id).status, "crashed");
  EXPECT_TRUE(cp->recover_crashed_runs().empty());
}

TEST(Checkpointer, ThreadsOfAnotherGraphAndBadInputAreRefused) {
  auto cp = Checkpointer::open(fresh_db("mismatch"));
  std::atomic<int> calls{0};
  start_run(review_graph(calls), *cp, "mine", nullptr);
  StateGraph other;
  other.set_name("other")
      .add_channel("x", Reducer::kReplace)
      .add_node("a", {"x"}, [](const State&) { return Update(); })
      .add_edge("a", kEndNode)
      .set_entry_point("a");
  std::string message;
  EXPECT_EQ(code_of([&] { resume_run(other.compile(), *cp, "mine"); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("belongs to graph review"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] {
              start_run(other.compile(), *cp, "new", {{"y", 1}});
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(cp->find_thread("new").has_value());  // nothing half-made
  EXPECT_EQ(code_of([&] { start_run(other.compile(), *cp, "a b", nullptr); }),
            ErrorCode::kInvalidArgument);
}

TEST(Checkpointer, StorageGrowsLinearlyWithAppendSteps) {
  const auto bytes_after = [](int turns) {
    const auto path = fresh_db("linear" + std::to_string(turns));
    auto cp = Checkpointer::open(path);
    StateGraph g;
    g.set_name("dialogue")
        .add_channel("messages", Reducer::kAppend)
        .add_node("turn", {"messages"},
                  [](const State& s) {
                    return Update{{"messages",
                                   {{"role", s["messages"].size() % 2 ? "robin" : "brick"},
                                    {"content", std::string(400, 'x')}}}};
                  })
        .add_conditional_edges(
            "turn",
            [turns](const State& s) {
              return std::vector<std::string>{
                  static_cast<int>(s["messages"].size()) >= turns ? kEndNode : "turn"};
            },
            {"turn", kEndNode})
        .set_entry_point("turn");
    RunOptions options;
    options.max_steps = turns + 1;
    const RunResult r = start_run(g.compile(), *cp, "d", nullptr, options);
    EXPECT_EQ(r.status, RunStatus::kDone);
    EXPECT_EQ(cp->load("d").state["messages"].size(), static_cast<size_t>(turns));
    return static_cast<double>(cp->storage_bytes());
  };
  const double b250 = bytes_after(250);
  const double b500 = bytes_after(500);
  EXPECT_LT(b500, 5.0 * 1024 * 1024);
  // Twice the turns, about twice the bytes (quadratic growth would be four times).
  EXPECT_LT(b500 / b250, 2.6);
}

TEST(Checkpointer, CancelledAndStepLimitedRunsResumeWhereTheyStopped) {
  auto cp = Checkpointer::open(fresh_db("cancel"));
  std::stop_source stop;
  StateGraph g;
  g.set_name("ticker")
      .add_channel("n", Reducer::kReplace, 0)
      .add_node("tick", {"n"},
                [&](const State& s) {
                  if (s["n"] == 2) stop.request_stop();
                  return Update{{"n", s["n"].get<int>() + 1}};
                })
      .add_conditional_edges(
          "tick",
          [](const State& s) {
            return std::vector<std::string>{s["n"] == 10 ? kEndNode : std::string("tick")};
          },
          {"tick", kEndNode})
      .set_entry_point("tick");
  const CompiledGraph graph = g.compile();
  RunOptions cancellable;
  cancellable.cancel = stop.get_token();
  const RunResult cancelled = start_run(graph, *cp, "tick", nullptr, cancellable);
  EXPECT_EQ(cancelled.status, RunStatus::kCancelled);
  EXPECT_EQ(cancelled.state["n"], 3);
  EXPECT_EQ(cp->get_run(cancelled.run_id).status, "cancelled");
  RunOptions limited;
  limited.max_steps = 6;  // counted across resumes of the run: 3 more
  const RunResult limit = resume_run(graph, *cp, "tick", {}, limited);
  EXPECT_EQ(limit.status, RunStatus::kStepLimit);
  EXPECT_EQ(limit.state["n"], 6);
  EXPECT_EQ(limit.steps, 6);
  const RunResult done = resume_run(graph, *cp, "tick");
  EXPECT_EQ(done.status, RunStatus::kDone);
  EXPECT_EQ(done.state["n"], 10);
  EXPECT_EQ(done.run_id, cancelled.run_id);
  EXPECT_EQ(cp->history("tick").size(), 11u);
}

TEST(Checkpointer, ANodeCutShortByCancellationLeavesTheRunCancelledNotFailed) {
  auto cp = Checkpointer::open(fresh_db("cancel_in_node"));
  std::stop_source stop;
  StateGraph g;
  g.set_name("long")
      .add_channel("x", Reducer::kReplace, 0)
      .add_node("work", {"x"},
                [&](NodeContext& ctx) -> Update {
                  stop.request_stop();  // Ctrl-C arrives while the model generates
                  if (ctx.cancel().stop_requested()) throw Error(ErrorCode::kCancelled, "cut");
                  return Update{{"x", 1}};
                })
      .add_edge("work", kEndNode)
      .set_entry_point("work");
  RunOptions options;
  options.cancel = stop.get_token();
  const RunResult r = start_run(g.compile(), *cp, "long", nullptr, options);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(cp->get_run(r.run_id).status, "cancelled");
  const RunResult resumed = resume_run(g.compile(), *cp, "long");
  EXPECT_EQ(resumed.status, RunStatus::kDone);
  EXPECT_EQ(resumed.state["x"], 1);
}

TEST(Checkpointer, ARouterThatThrowsFailsTheRunWithoutLosingTheThread) {
  auto cp = Checkpointer::open(fresh_db("router"));
  StateGraph g;
  g.set_name("router")
      .add_channel("x", Reducer::kReplace, 0)
      .add_node("a", {"x"},
                [](const State&) {
                  return Update{{"x", 1}};
                })
      .add_conditional_edges("a",
                             [](const State&) -> std::vector<std::string> {
                               throw std::runtime_error("router blew up");
                             },
                             {kEndNode})
      .set_entry_point("a");
  const RunResult r = start_run(g.compile(), *cp, "r", nullptr);
  EXPECT_EQ(r.status, RunStatus::kError);
  EXPECT_EQ(r.error, "router blew up");
  EXPECT_EQ(r.state["x"], 0);  // the step did not commit
  EXPECT_EQ(cp->get_run(r.run_id).status, "error");
  EXPECT_EQ(cp->load("r").info.id, 0);
}

TEST(Checkpointer, ReadOnlyAccessSeesCommittedStepsAndRefusesOldSchemas) {
  const auto path = fresh_db("read_only");
  auto writer = Checkpointer::open(path);
  std::atomic<int> calls{0};
  start_run(review_graph(calls), *writer, "t", nullptr);
  auto reader = Checkpointer::open_read_only(path);
  EXPECT_EQ(reader->history("t").size(), 2u);  // the input and the draft; review waits
  EXPECT_EQ(reader->pending_interrupts("t").size(), 1u);
  EXPECT_EQ(code_of([&] { reader->create_thread("x", "g", {}, {}); }), ErrorCode::kDataLoss);
  const auto old = fresh_db("read_only_old");
  const std::vector<Migration> v1(state_db_migrations().begin(), state_db_migrations().begin() + 1);
  migrate_state_db(old, v1);
  std::string message;
  EXPECT_EQ(code_of([&] { Checkpointer::open_read_only(old); }, &message),
            ErrorCode::kFailedPrecondition);
  EXPECT_NE(message.find("a4ps image info"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { Checkpointer::open_read_only(fresh_db("none") / "x.db"); }),
            ErrorCode::kNotFound);
}

TEST(StateDb, MigratesAVersionOneDatabaseToTheGraphSchema) {
  const auto path = fresh_db("migrate");
  const std::vector<Migration> v1(state_db_migrations().begin(), state_db_migrations().begin() + 1);
  ASSERT_EQ(migrate_state_db(path, v1), 1);
  EXPECT_EQ(migrate_state_db(path), current_state_db_version());
  auto cp = Checkpointer::open(path);
  EXPECT_TRUE(cp->list_threads().empty());
  cp->create_thread("after-migration", "g", {{"x", Reducer::kReplace}}, {});
  EXPECT_EQ(cp->list_threads().size(), 1u);
}

}  // namespace
}  // namespace a4ps::graph
