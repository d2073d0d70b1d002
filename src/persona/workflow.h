// persona/workflow: the A4PS workflow on the graph engine. ALFRED routes the task (a JSON
// decision); BABS writes a research report from the sources when ALFRED asks; BRICK and ROBIN
// search a Socratic Tree of Thoughts (BRICK proposes, ROBIN scores, the best survive, weak
// branches are abandoned and the search backtracks); ROBIN and BRICK then argue up to
// [socratic] max_turns; ALFRED writes the final answer and judges the conflict; the
// dissonance is measured and, above the threshold, published on the event bus. With a Tool
// Forge, BRICK first calls or requests tools (persona/tool_use.h). Every persona
// turn is a checkpointed step; every model call is journaled.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "forge/tool_forge.h"
#include "graph/state_graph.h"
#include "llm/model_manager.h"
#include "memory/memory_store.h"
#include "motive/event_bus.h"
#include "persona/codex.h"
#include "web/web_client.h"

namespace a4ps::persona {

inline constexpr std::string_view kWorkflowGraphName = "a4ps.workflow";

struct WorkflowDeps {
  llm::ModelManager* models = nullptr;
  const Codex* codex = nullptr;
  SocraticConfig socratic;
  MotivatorConfig motivator;
  motive::EventBus* bus = nullptr;
  int context_tokens = 4096;  // [inference] context_size: prompts are fitted into it
  // Episodic memory: BABS searches it for the task, and every finished run is remembered in
  // it (namespace episodes/THREAD). Null: only the documents and the thread's earlier runs.
  memory::MemoryStore* memory = nullptr;
  // A model registered in `models` for embeddings; empty: the built-in lexical embedder.
  std::string embedding_model;
  // BABS's web access ([tools] search_url, fetch_allowed_hosts). Null: she reads no web.
  const web::WebClient* web = nullptr;
  // The Tool Forge: BRICK sees its catalogue, calls its tools and requests new ones in a
  // brick_tools step before he proposes. Null: no tool step.
  forge::ToolForge* forge = nullptr;
};

struct Document {
  std::string label;  // e.g. the file name
  std::string text;
};

// The graph. `deps` must outlive every run of it.
graph::CompiledGraph workflow_graph(const WorkflowDeps& deps);

// The input of a run: the task, its documents, and every per-run channel reset.
nlohmann::json workflow_input(const std::string& task, const std::vector<Document>& docs);

// The persona that speaks in a node of the workflow ("" for none: tot_select, dissonance).
std::string_view persona_of_node(std::string_view node);

}  // namespace a4ps::persona
