// Graph engine overhead and checkpoint storage. Prints, per run of a 3-node chain and of a
// 5-way fan-out + join: the node functions called directly (the reference: no engine), the
// engine with an in-memory checkpointer, and with state.db on disk in each durability mode;
// then the bytes a 500-turn dialogue in an append channel takes in state.db.
// usage: a4ps_bench_graph DIR [RUNS]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "graph/checkpointer.h"
#include "graph/runner.h"

namespace {

using namespace a4ps::graph;
using Clock = std::chrono::steady_clock;
const std::string kEndNode(kEnd);

Update tiny_update(const State& s, const char* who) {
  return Update{{"log", std::string(who) + std::to_string(s["log"].size())}};
}

CompiledGraph chain() {
  StateGraph g;
  g.set_name("chain").add_channel("log", Reducer::kAppend);
  for (const char* n : {"a", "b", "c"}) {
    g.add_node(n, {"log"}, [n](const State& s) { return tiny_update(s, n); });
  }
  g.add_edge("a", "b").add_edge("b", "c").add_edge("c", kEndNode).set_entry_point("a");
  return g.compile();
}

CompiledGraph fan_out() {
  StateGraph g;
  g.set_name("fan").add_channel("log", Reducer::kAppend);
  g.add_node("start", {"log"}, [](const State& s) { return tiny_update(s, "start"); });
  g.add_node("join", {"log"}, [](const State& s) { return tiny_update(s, "join"); });
  for (int i = 0; i < 5; ++i) {
    const std::string name = "w" + std::to_string(i);
    g.add_node(name, {"log"}, [name](const State& s) { return tiny_update(s, name.c_str()); });
    g.add_edge("start", name).add_edge(name, "join");
  }
  g.add_edge("join", kEndNode).set_entry_point("start");
  return g.compile();
}

// The reference: the same node work with no engine (a state object, the updates appended).
double direct_us(int nodes, int runs) {
  const auto t0 = Clock::now();
  std::size_t sink = 0;
  for (int r = 0; r < runs; ++r) {
    State s = {{"log", nlohmann::json::array()}};
    for (int n = 0; n < nodes; ++n) s["log"].push_back(tiny_update(s, "n")["log"]);
    sink += s["log"].size();
  }
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / runs;
  return sink > 0 ? us : 0;
}

double engine_us(const CompiledGraph& graph, Checkpointer& cp, int runs) {
  start_run(graph, cp, "", nullptr);  // warm the statement cache
  const auto t0 = Clock::now();
  for (int r = 0; r < runs; ++r) {
    const RunResult result = start_run(graph, cp, "", nullptr);
    if (result.status != RunStatus::kDone)
      std::fprintf(stderr, "run failed: %s\n", result.error.c_str());
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / runs;
}

void overhead(const char* name, const CompiledGraph& graph, int nodes,
              const std::filesystem::path& dir, int runs) {
  const double ref = direct_us(nodes, runs * 10);
  auto memory = Checkpointer::open_in_memory();
  const double mem = engine_us(graph, *memory, runs);
  std::filesystem::remove_all(dir / name);
  std::filesystem::create_directories(dir / name);
  auto normal = Checkpointer::open(dir / name / "normal.db", {Durability::kNormal});
  const double disk = engine_us(graph, *normal, runs);
  auto sync = Checkpointer::open(dir / name / "sync.db", {Durability::kSync});
  const double synced = engine_us(graph, *sync, std::max(20, runs / 20));
  std::printf("%-22s %10.1f %12.1f %14.1f %12.1f %10.1fx\n", name, ref, mem, disk, synced,
              disk / mem);
}

void dialogue_bytes(const std::filesystem::path& dir, int turns, std::size_t message_bytes) {
  std::filesystem::remove_all(dir / "dialogue");
  std::filesystem::create_directories(dir / "dialogue");
  auto cp = Checkpointer::open(dir / "dialogue" / "state.db");
  StateGraph g;
  g.set_name("dialogue").add_channel("messages", Reducer::kAppend);
  g.add_node("turn", {"messages"}, [message_bytes](const State& s) {
    return Update{{"messages",
                   {{"role", s["messages"].size() % 2 ? "ROBIN" : "BRICK"},
                    {"content", std::string(message_bytes, 'x')}}}};
  });
  g.add_conditional_edges(
       "turn",
       [turns](const State& s) {
         return std::vector<std::string>{static_cast<int>(s["messages"].size()) >= turns ? kEndNode
                                                                                         : "turn"};
       },
       {"turn", kEndNode})
      .set_entry_point("turn");
  RunOptions options;
  options.max_steps = turns + 1;
  const auto before = cp->storage_bytes();
  const auto t0 = Clock::now();
  start_run(g.compile(), *cp, "dialogue", nullptr, options);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const double mb = static_cast<double>(cp->storage_bytes() - before) / 1e6;
  const double payload = static_cast<double>(turns) * static_cast<double>(message_bytes) / 1e6;
  const auto load0 = Clock::now();
  const State last = cp->load("dialogue").state;
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - load0).count();
  std::printf(
      "%d turns of %zu-byte messages: %.2f MB in state.db (%.2f MB of message text, %.2fx);"
      " %.0f ms for the run, %.1f ms to load the last checkpoint (%zu messages)\n",
      turns, message_bytes, mb, payload, mb / payload, ms, load_ms, last["messages"].size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: a4ps_bench_graph DIR [RUNS]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int runs = argc > 2 ? std::max(20, std::atoi(argv[2])) : 2000;
  std::printf("µs per run (a new thread each run)  direct = node functions alone, no engine\n");
  std::printf("%-22s %10s %12s %14s %12s %11s\n", "graph", "direct", "in-memory", "disk normal",
              "disk sync", "disk/mem");
  overhead("3-node chain", chain(), 3, dir, runs);
  overhead("5-way fan-out + join", fan_out(), 7, dir, runs);
  dialogue_bytes(dir, 500, 1750);
  return 0;
}
