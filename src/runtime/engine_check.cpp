#include "runtime/engine_check.h"

#include <string>

#include "core/hash.h"
#include "graph/node_context.h"

namespace a4ps::runtime {
namespace {

using graph::NodeContext;
using graph::Reducer;
using graph::State;
using graph::Update;
using nlohmann::json;

size_t count_words(const std::string& text) {
  size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

}  // namespace

graph::CompiledGraph engine_check_graph() {
  graph::StateGraph g;
  g.set_name(std::string(kEngineCheckGraphName))
      .add_channel("task", Reducer::kReplace, "check the graph engine")
      .add_channel("notes", Reducer::kAppend)
      .add_channel("checks", Reducer::kMerge)
      .add_channel("approved", Reducer::kReplace);
  g.add_node("plan", {"notes"}, [](const State& s) {
    return Update{{"notes", "plan: three checks of \"" + s["task"].get<std::string>() + "\""}};
  });
  g.add_node("count_words", {"checks"}, [](const State& s) {
    return Update{{"checks", {{"words", count_words(s["task"].get<std::string>())}}}};
  });
  g.add_node("fingerprint", {"checks"}, [](const State& s) {
    return Update{{"checks", {{"fnv1a", hex64(fnv1a(s["task"].get<std::string>()))}}}};
  });
  g.add_node("measure", {"checks"}, [](const State& s) {
    return Update{{"checks", {{"bytes", s["task"].get<std::string>().size()}}}};
  });
  for (const char* branch : {"count_words", "fingerprint", "measure"}) {
    g.add_edge("plan", branch).add_edge(branch, "join");
  }
  g.add_node("join", {"notes"}, [](const State& s) {
    return Update{{"notes", "joined " + std::to_string(s["checks"].size()) + " checks"}};
  });
  g.add_node("approve", {"approved", "notes"}, [](NodeContext& ctx) {
    const json answer = ctx.interrupt({{"question", "Approve these checks? Answer true or false."},
                                       {"checks", ctx.state()["checks"]}});
    const bool approved = answer == true;
    return Update{{"approved", approved}, {"notes", approved ? "approved" : "not approved"}};
  });
  g.add_edge("join", "approve")
      .add_edge("approve", std::string(graph::kEnd))
      .set_entry_point("plan");
  return g.compile();
}

}  // namespace a4ps::runtime
