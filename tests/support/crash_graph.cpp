#include "support/crash_graph.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

namespace a4ps::testing {
namespace {

using graph::NodeContext;
using graph::Reducer;
using graph::State;
using graph::Update;
using nlohmann::json;

// A deterministic "model": its answer depends only on the prompt; it takes a few ms and logs
// that it ran.
json model_call(NodeContext& ctx, const std::filesystem::path& log, const std::string& prompt) {
  return ctx.once("model", [&] {
    std::this_thread::sleep_for(std::chrono::microseconds(1500 + prompt.size() * 20));
    const std::string key = ctx.node() + "@" + std::to_string(ctx.state()["round"].get<int>()) +
                            "/" + std::to_string(std::hash<std::string>{}(prompt) % 100000);
    const std::string line = key + " " + std::to_string(getpid()) + "\n";
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    return json{{"text", "answer to " + prompt}, {"key", key}, {"pid", getpid()}};
  });
}

}  // namespace

graph::CompiledGraph crash_test_graph(const std::filesystem::path& call_log) {
  graph::StateGraph g;
  g.set_name("crash-test")
      .add_channel("round", Reducer::kReplace, 0)
      .add_channel("notes", Reducer::kAppend)
      .add_channel("scores", Reducer::kMerge);
  g.add_node("plan", {"notes"}, [call_log](NodeContext& ctx) {
    return Update{{"notes", model_call(ctx, call_log, "plan the task")["text"]}};
  });
  for (const std::string worker : {"alpha", "beta", "gamma"}) {
    g.add_node(worker, {"notes", "scores"}, [call_log, worker](NodeContext& ctx) {
      const json a = model_call(ctx, call_log, worker + " first thought");
      const json b =
          model_call(ctx, call_log, worker + " second thought on " + a["text"].get<std::string>());
      return Update{{"notes", json::array({a["text"], b["text"]})},
                    {"scores", {{worker, b["text"].get<std::string>().size()}}}};
    });
    g.add_edge("plan", worker).add_edge(worker, "join");
  }
  g.add_node("join", {"notes"}, [call_log](NodeContext& ctx) {
    return Update{
        {"notes",
         model_call(ctx, call_log, "join " + std::to_string(ctx.state()["notes"].size()))["text"]}};
  });
  g.add_node("refine", {"notes", "round"}, [call_log](NodeContext& ctx) {
    const int round = ctx.state()["round"].get<int>();
    return Update{{"notes", model_call(ctx, call_log, "refine " + std::to_string(round))["text"]},
                  {"round", round + 1}};
  });
  g.add_edge("join", "refine")
      .add_conditional_edges(
          "refine",
          [](const State& s) {
            return std::vector<std::string>{s["round"] >= 5 ? std::string(graph::kEnd) : "refine"};
          },
          {"refine", std::string(graph::kEnd)})
      .set_entry_point("plan");
  return g.compile();
}

}  // namespace a4ps::testing
