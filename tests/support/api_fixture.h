// A served ApiServer for tests, the real-client tests in tests/node/ and the HTTP benchmarks:
// a small graph (a task goes through three steps that stream tokens, "slow ..." tasks pause in
// each, "paced ..." tasks stream 500 tokens a step; then an answer that streams too), an in-memory
// checkpointer, lexical memory, the built-in codex and scripted persona models ("BRICK hears:
// PROMPT").
#pragma once

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/config.h"
#include "graph/node_context.h"
#include "image/state_db.h"
#include "llm/model_manager.h"
#include "memory/lexical_embedder.h"
#include "memory/memory_store.h"
#include "persona/codex.h"
#include "server/api_server.h"
#include "support/scripted_backend.h"
#include "support/test_models.h"

namespace a4ps::testing {

using graph::NodeContext;
using graph::Reducer;
using graph::State;
using graph::Update;

inline graph::CompiledGraph test_graph() {
  graph::StateGraph g;
  g.set_name("server-test")
      .add_channel("task", Reducer::kReplace, "")
      .add_channel("notes", Reducer::kAppend)
      .add_channel("answer", Reducer::kReplace, "");
  for (const char* step : {"one", "two", "three"}) {
    g.add_node(step, {"notes"}, [step](NodeContext& ctx) {
      const std::string task = ctx.state()["task"];
      // "paced" tasks stream 500 tokens a step, one every 2 ms (the SSE fan-out benchmark).
      const bool paced = task.starts_with("paced");
      for (int i = 0; i < (paced ? 500 : 3); ++i) {
        if (task.starts_with("slow")) std::this_thread::sleep_for(std::chrono::milliseconds(60));
        if (paced) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ctx.emit_token(std::string(step) + "." + std::to_string(i) + " ");
      }
      return Update{{"notes", step}};
    });
  }
  g.add_node("answer", {"answer"}, [](NodeContext& ctx) {
    const std::string task = ctx.state()["task"];
    // "ask ..." tasks wait for a human's approval first (an interrupt).
    std::string verdict;
    if (task.starts_with("ask")) {
      verdict = ctx.interrupt({{"question", "Answer \"" + task + "\"?"}}) == true ? " (approved)"
                                                                                  : " (rejected)";
    }
    ctx.emit_token("answer to ");
    ctx.emit_token(task);
    return Update{{"answer", "answer to " + task + verdict}};
  });
  g.add_edge("one", "two").add_edge("two", "three").add_edge("three", "answer");
  g.add_edge("answer", std::string(graph::kEnd)).set_entry_point("one");
  return g.compile();
}

inline std::filesystem::path fresh_api_db(const std::string& name) {
  const auto dir = scratch_dir() / "server" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  migrate_state_db(dir / "state.db");
  return dir / "state.db";
}

struct Served {
  std::string name;
  Config config = Config::defaults();
  Codex codex = Codex::builtin(config);
  std::unique_ptr<memory::MemoryStore> memory =
      memory::MemoryStore::open(fresh_api_db(name), memory::lexical_embedder());
  std::unique_ptr<graph::Checkpointer> checkpointer = graph::Checkpointer::open_in_memory();
  llm::ModelManager models{llm::ModelManagerOptions{}};
  std::unique_ptr<server::ApiServer> server;
  std::thread thread;
  int port = 0;

  // `name` keeps the memory database of concurrent test processes apart.
  explicit Served(const std::string& db_name, server::ApiOptions options = {}) : name(db_name) {
    server::ApiDeps deps;
    deps.checkpointer = checkpointer.get();
    deps.graph = test_graph;
    deps.input = [](const std::string& task, const nlohmann::json&) {
      return nlohmann::json{{"task", task}};
    };
    deps.answer = [](const State& s) { return s["answer"].get<std::string>(); };
    deps.health = {{"version", "test"}};
    deps.memory = memory.get();
    deps.codex = &codex;
    deps.answer_node = "answer";
    deps.turns = [](const State& s) { return s["notes"]; };
    deps.models = &models;
    for (const char* model : {"alfred", "babs", "brick", "robin"}) {
      models.register_remote(model,
                             std::make_unique<ScriptedBackend>([](const llm::ChatRequest& r) {
                               return persona_of(r) + " hears: " + prompt_of(r);
                             }));
    }
    options.port = 0;
    server = std::make_unique<server::ApiServer>(deps, options);
    port = server->bind();
    thread = std::thread([this] { server->serve(); });
  }
  ~Served() {
    server->stop();
    thread.join();
  }
  httplib::Client client(const std::string& token = {}) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    if (!token.empty()) c.set_bearer_token_auth(token);
    return c;
  }
};

}  // namespace a4ps::testing
