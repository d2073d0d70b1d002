#include "graph/state_graph.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps::graph {
namespace {

PureNodeFn writes(Update update) {
  return [update](const State&) { return update; };
}

std::string compile_error(const StateGraph& g) {
  try {
    g.compile();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "compiled";
}

StateGraph dialogue() {
  StateGraph g;
  g.add_channel("task", Reducer::kReplace)
      .add_channel("turns", Reducer::kAppend)
      .add_channel("scores", Reducer::kMerge)
      .add_node("brick", {"turns"}, writes({{"turns", "thesis"}}))
      .add_node("robin", {"turns", "scores"},
                writes({{"turns", {"antithesis"}}, {"scores", {{"robin", 0.7}}}}))
      .add_edge("brick", "robin")
      .add_conditional_edges(
          "robin",
          [](const State& s) {
            return std::vector<std::string>{s["turns"].size() < 4 ? "brick" : std::string(kEnd)};
          },
          {"brick", std::string(kEnd)})
      .set_entry_point("brick");
  return g;
}

TEST(StateGraph, ReducersFoldUpdatesIntoChannels) {
  const CompiledGraph g = dialogue().compile();
  State s = g.initial_state();
  EXPECT_EQ(s["turns"], nlohmann::json::array());
  EXPECT_EQ(s["scores"], nlohmann::json::object());
  g.apply_update(s, "brick", {{"turns", "thesis"}});
  g.apply_update(s, "robin", {{"turns", {"a", "b"}}, {"scores", {{"robin", 0.5}}}});
  g.apply_update(s, "robin", {{"scores", {{"brick", 0.9}}}});
  EXPECT_EQ(s["turns"], (nlohmann::json{"thesis", "a", "b"}));
  EXPECT_EQ(s["scores"], (nlohmann::json{{"robin", 0.5}, {"brick", 0.9}}));
  g.apply_update(s, "brick", nullptr);  // no update
  EXPECT_EQ(s["turns"].size(), 3u);
}

TEST(StateGraph, UpdatesOutsideTheDeclarationOrTheReducerAreRejected) {
  const CompiledGraph g = dialogue().compile();
  State s = g.initial_state();
  EXPECT_THROW(g.apply_update(s, "brick", {{"scores", {{"x", 1}}}}), Error);  // not declared
  EXPECT_THROW(g.apply_update(s, "robin", {{"scores", 3}}), Error);           // merge non-object
  EXPECT_THROW(g.apply_update(s, "brick", nlohmann::json::array()), Error);   // not an object
}

TEST(StateGraph, RoutesByEdgesAndRouters) {
  const CompiledGraph g = dialogue().compile();
  State s = g.initial_state();
  EXPECT_EQ(g.next_nodes("brick", s), std::vector<std::string>{"robin"});
  EXPECT_EQ(g.next_nodes("robin", s), std::vector<std::string>{"brick"});
  s["turns"] = {1, 2, 3, 4};
  EXPECT_EQ(g.next_nodes("robin", s), std::vector<std::string>{std::string(kEnd)});
}

TEST(StateGraph, ARouterChoosingAnUndeclaredTargetIsAnError) {
  StateGraph rogue;
  rogue.add_channel("turns", Reducer::kAppend)
      .add_node("a", {}, writes(nullptr))
      .add_node("b", {}, writes(nullptr))
      .add_edge("b", std::string(kEnd))
      .add_conditional_edges("a", [](const State&) { return std::vector<std::string>{"c"}; }, {"b"})
      .set_entry_point("a");
  const CompiledGraph compiled = rogue.compile();
  try {
    compiled.next_nodes("a", compiled.initial_state());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("router after a chose c"), std::string::npos);
  }
}

TEST(StateGraph, CompileNamesEveryProblem) {
  StateGraph g;
  g.add_channel("turns", Reducer::kAppend)
      .add_node("brick", {"turns", "mood"}, writes(nullptr))  // mood has no reducer
      .add_node("robin", {}, writes(nullptr))                 // no way out
      .add_node("babs", {}, writes(nullptr))                  // unreachable
      .add_edge("babs", std::string(kEnd))
      .add_edge("brick", "alfred")  // unknown node
      .add_conditional_edges("brick", [](const State&) { return std::vector<std::string>{}; },
                             {"robin", "ghost"})  // unknown target
      .set_entry_point("brick");
  const std::string message = compile_error(g);
  for (const char* expected :
       {"node brick writes channel mood, which has no reducer", "node robin has no outgoing edge",
        "node babs is unreachable from brick", "edge brick -> alfred: unknown node alfred",
        "router after brick: target ghost is not a node"}) {
    EXPECT_NE(message.find(expected), std::string::npos) << expected << "\n" << message;
  }
}

TEST(StateGraph, EntryPointAndNamesAreChecked) {
  EXPECT_NE(compile_error(StateGraph()).find("no entry point"), std::string::npos);
  StateGraph g;
  g.add_node("a", {}, writes(nullptr)).add_edge("a", std::string(kEnd)).set_entry_point("z");
  EXPECT_NE(compile_error(g).find("entry point z is not a node"), std::string::npos);
  g.set_entry_point("a").add_node("a", {}, writes(nullptr));
  EXPECT_NE(compile_error(g).find("node a is added twice"), std::string::npos);
  StateGraph reserved;
  reserved.add_node(std::string(kEnd), {}, writes(nullptr));
  EXPECT_NE(compile_error(reserved).find("is reserved"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::graph
