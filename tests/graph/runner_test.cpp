#include "graph/runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "core/error.h"

namespace a4ps::graph {
namespace {

const std::string kEndNode(kEnd);

TEST(Runner, RunsAChainToTheEnd) {
  StateGraph g;
  g.add_channel("log", Reducer::kAppend)
      .add_node("alfred", {"log"},
                [](const State&) {
                  return Update{{"log", "route"}};
                })
      .add_node("brick", {"log"},
                [](const State&) {
                  return Update{{"log", "thesis"}};
                })
      .add_node("robin", {"log"},
                [](const State&) {
                  return Update{{"log", "synthesis"}};
                })
      .add_edge("alfred", "brick")
      .add_edge("brick", "robin")
      .add_edge("robin", kEndNode)
      .set_entry_point("alfred");
  std::vector<std::string> started;
  RunOptions options;
  options.on_event = [&](const EventRecord& e) {
    if (e.kind == "node_started") started.push_back(e.data["node"]);
  };
  const RunResult r = run_graph(g.compile(), nullptr, options);
  EXPECT_EQ(r.status, RunStatus::kDone);
  EXPECT_EQ(r.steps, 3);
  EXPECT_EQ(r.state["log"], (nlohmann::json{"route", "thesis", "synthesis"}));
  EXPECT_EQ(started, (std::vector<std::string>{"alfred", "brick", "robin"}));
}

TEST(Runner, FanOutRunsInOneStepAndJoinsByReducer) {
  StateGraph g;
  g.add_channel("candidates", Reducer::kAppend).add_channel("summary", Reducer::kReplace);
  g.add_node("start", {}, [](const State&) { return Update(); });
  std::atomic<int> running{0}, overlap{0};
  for (int i = 0; i < 5; ++i) {
    const std::string name = "thought" + std::to_string(i);
    g.add_node(name, {"candidates"}, [&, i](const State&) {
      if (++running > 1) ++overlap;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      --running;
      return Update{{"candidates", i}};
    });
    g.add_edge("start", name).add_edge(name, "join");
  }
  g.add_node("join", {"summary"},
             [](const State& s) {
               return Update{{"summary", s["candidates"].size()}};
             })
      .add_edge("join", kEndNode)
      .set_entry_point("start");
  const RunResult r = run_graph(g.compile(), nullptr);
  EXPECT_EQ(r.status, RunStatus::kDone);
  EXPECT_EQ(r.steps, 3);  // start, the five thoughts together, join once
  EXPECT_EQ(r.state["summary"], 5);
  EXPECT_EQ(r.state["candidates"], (nlohmann::json{0, 1, 2, 3, 4}));  // node-name order
  EXPECT_GT(overlap.load(), 0);  // they really ran concurrently
}

TEST(Runner, TwoReplacesOfOneChannelInOneStepAreAnError) {
  StateGraph g;
  g.add_channel("answer", Reducer::kReplace)
      .add_node("start", {}, [](const State&) { return Update(); })
      .add_node("a", {"answer"},
                [](const State&) {
                  return Update{{"answer", 1}};
                })
      .add_node("b", {"answer"},
                [](const State&) {
                  return Update{{"answer", 2}};
                })
      .add_edge("start", "a")
      .add_edge("start", "b")
      .add_edge("a", kEndNode)
      .add_edge("b", kEndNode)
      .set_entry_point("start");
  const RunResult r = run_graph(g.compile(), nullptr);
  EXPECT_EQ(r.status, RunStatus::kError);
  EXPECT_NE(r.error.find("nodes a and b both wrote channel answer"), std::string::npos);
}

TEST(Runner, StepLimitStopsALoop) {
  StateGraph g;
  g.add_channel("n", Reducer::kReplace, 0)
      .add_node("tick", {"n"},
                [](const State& s) {
                  return Update{{"n", s["n"].get<int>() + 1}};
                })
      .add_edge("tick", "tick")
      .set_entry_point("tick");
  RunOptions options;
  options.max_steps = 7;
  const RunResult r = run_graph(g.compile(), nullptr, options);
  EXPECT_EQ(r.status, RunStatus::kStepLimit);
  EXPECT_EQ(r.state["n"], 7);
}

TEST(Runner, CancellationStopsBeforeTheNextStep) {
  std::stop_source stop;
  StateGraph g;
  g.add_channel("n", Reducer::kReplace, 0)
      .add_node("tick", {"n"},
                [&](const State& s) {
                  if (s["n"] == 2) stop.request_stop();
                  return Update{{"n", s["n"].get<int>() + 1}};
                })
      .add_edge("tick", "tick")
      .set_entry_point("tick");
  RunOptions options;
  options.cancel = stop.get_token();
  const RunResult r = run_graph(g.compile(), nullptr, options);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(r.state["n"], 3);
}

TEST(Runner, ANodeErrorIsRecordedWithTheNodeAndItsInput) {
  StateGraph g;
  g.add_channel("task", Reducer::kReplace)
      .add_node("babs", {}, [](const State&) -> Update { throw std::runtime_error("no sources"); })
      .add_edge("babs", kEndNode)
      .set_entry_point("babs");
  const RunResult r = run_graph(g.compile(), {{"task", "onboarding"}});
  EXPECT_EQ(r.status, RunStatus::kError);
  EXPECT_EQ(r.failed_node, "babs");
  EXPECT_EQ(r.error, "no sources");
  EXPECT_EQ(r.failed_input["task"], "onboarding");
  EXPECT_THROW(run_graph(g.compile(), {{"nope", 1}}), Error);
}

}  // namespace
}  // namespace a4ps::graph
