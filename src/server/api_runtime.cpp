#include "server/api_runtime.h"

#include <string>
#include <vector>

#include "core/text.h"
#include "persona/workflow.h"

namespace a4ps::server {

using nlohmann::json;

ApiDeps api_deps(runtime::Runtime& runtime) {
  const graph::CompiledGraph workflow = runtime.graph(std::string(persona::kWorkflowGraphName));
  ApiDeps deps;
  deps.checkpointer = &runtime.checkpointer();
  deps.graph = [workflow] { return workflow; };
  deps.input = [](const std::string& task, const json& documents) {
    std::vector<persona::Document> docs;
    for (const json& d : documents) {
      docs.push_back(
          {valid_utf8(d["label"].get<std::string>()), valid_utf8(d["text"].get<std::string>())});
    }
    return persona::workflow_input(valid_utf8(task), docs);
  };
  deps.answer = [](const graph::State& s) { return s.value("answer", std::string()); };
  deps.answer_node = "alfred_answer";
  deps.turns = [](const graph::State& s) { return s.value("dialogue", json::array()); };
  deps.before_run = [&runtime] { runtime.check_models_reachable(); };
  deps.run_options = runtime.run_options();
  deps.health = runtime.health();
  deps.tools = &runtime.forge().registry();
  deps.memory = &runtime.memory();
  deps.models = &runtime.models();
  deps.codex = &runtime.codex();
  deps.evolve = &runtime.evolve();
  return deps;
}

ApiOptions api_options(const ServerConfig& config) {
  ApiOptions o;
  o.host = config.host;
  o.port = static_cast<int>(config.port);
  o.token = config.token;
  o.max_body_bytes = static_cast<std::size_t>(config.max_body_bytes);
  o.cors_origins = config.cors_origins;
  return o;
}

}  // namespace a4ps::server
