#include "persona/workflow.h"

#include <algorithm>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "memory/ingest.h"
#include "memory/lexical_embedder.h"
#include "persona/dissonance.h"
#include "persona/prompts.h"
#include "persona/speaker.h"
#include "persona/tool_use.h"
#include "persona/tot.h"

namespace a4ps::persona {
namespace {

using graph::NodeContext;
using graph::Reducer;
using graph::State;
using graph::Update;
using nlohmann::json;

constexpr size_t kSourceChars = 1500;  // of each source, in BABS's prompt
constexpr size_t kMaxSources = 8;
constexpr size_t kMaxPages = 3;           // web pages BABS reads per run
constexpr size_t kPageChars = 32 * 1024;  // of each page, journaled and remembered

struct Workflow {
  WorkflowDeps deps;
  Speaker speaker;
  TotLimits limits;  // from [socratic]
  int max_turns = 2;
};

// The limits of this run: [socratic], lowered where ALFRED's route asked for less.
TotLimits run_limits(const Workflow& w, const State& s) {
  TotLimits limits = w.limits;
  if (s["route"].is_object()) {
    limits.max_depth =
        std::clamp(s["route"].value("depth", limits.max_depth), 1, std::max(1, limits.max_depth));
  }
  return limits;
}

int run_turns(const Workflow& w, const State& s) {
  if (!s["route"].is_object()) return w.max_turns;
  return std::clamp(s["route"].value("turns", w.max_turns), 0, std::max(0, w.max_turns));
}

std::string text_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// The documents of this run, the web pages BABS read for it, then what memory recalls for the
// task (or, without a memory store, the thread's earlier runs), numbered for citation.
std::vector<Source> collect_sources(const Workflow& w, const State& s,
                                    const json& pages = json::array()) {
  std::vector<Source> sources;
  const auto next = [&] { return static_cast<int>(sources.size() + 1); };
  for (const json& d : s["docs"]) {
    if (sources.size() >= kMaxSources) break;
    sources.push_back(
        {next(), "document", text_of(d, "label"), text_of(d, "text").substr(0, kSourceChars)});
  }
  std::set<std::string> read;
  for (const json& p : pages) {
    if (sources.size() >= kMaxSources) break;
    read.insert(text_of(p, "url"));
    sources.push_back(
        {next(), "web", text_of(p, "url"), text_of(p, "text").substr(0, kSourceChars)});
  }
  if (w.deps.memory != nullptr) {
    memory::SearchOptions options;
    options.k = static_cast<int>(kMaxSources - std::min(kMaxSources, sources.size()));
    if (options.k == 0) return sources;
    for (const memory::Hit& h : w.deps.memory->search(text_of(s, "task"), options)) {
      if (h.source_kind == "web" && read.contains(h.source)) continue;  // cited as web above
      const std::string where =
          h.source_kind == "web" || h.namespace_path.empty() ? h.source : h.namespace_path;
      sources.push_back({next(), "memory " + h.source_kind, where + " #" + std::to_string(h.id),
                         h.text.substr(0, kSourceChars)});
    }
    return sources;
  }
  const json& episodes = s["episodes"];
  for (auto it = episodes.rbegin(); it != episodes.rend() && sources.size() < kMaxSources; ++it) {
    sources.push_back({next(), "earlier turn", "run " + text_of(*it, "run"),
                       ("Task: " + text_of(*it, "task") + "\nAnswer: " + text_of(*it, "answer"))
                           .substr(0, kSourceChars)});
  }
  return sources;
}

std::vector<Turn> dialogue_of(const State& s) {
  std::vector<Turn> turns;
  for (const json& t : s["dialogue"]) turns.push_back({text_of(t, "persona"), text_of(t, "text")});
  return turns;
}

// The last turn of the persona with codex id `id` ("brick").
std::string last_turn_of(const State& s, const std::string& id) {
  const json& turns = s["dialogue"];
  for (auto it = turns.rbegin(); it != turns.rend(); ++it) {
    if (text_of(*it, "id") == id) return text_of(*it, "text");
  }
  return {};
}

std::vector<Thought> best_line(const TotState& tot) {
  if (tot.beam.empty()) return {};
  const Thought& best = tot.beam.front();
  std::vector<Thought> line;
  for (const std::string& text : best.line) line.push_back({"", "", 0, text, {}, 0, ""});
  line.push_back(best);
  return line;
}

Update route(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  const std::vector<Source> sources = collect_sources(w, s);
  const Decision d = w.speaker.decide(
      ctx, "alfred", route_prompt(s["task"], sources),
      route_schema(w.limits.max_depth, w.max_turns),
      route_default(!sources.empty(), w.limits.max_depth, w.max_turns), {"route", 0, 0});
  json decision = d.value;
  decision["default_used"] = d.used_default;
  if (d.used_default) decision["problem"] = d.problem;
  // Documents the user passed are always read: that is why they were passed.
  if (!s["docs"].empty() && !decision.value("research", false)) {
    decision["research"] = true;
    decision["research_because"] = "the task came with documents";
  }
  return Update{{"route", decision}};
}

// Up to kMaxPages allowed pages for the task: URLs the task names, then the search endpoint's
// results. Failures are collected, not thrown: BABS reports from what she could read.
json read_web(const web::WebClient& web, const std::string& task) {
  json pages = json::array();
  json errors = json::array();
  std::vector<std::string> urls;
  static const std::regex url_in_text(R"(https?://[^\s<>"')\]]+)");
  for (auto it = std::sregex_iterator(task.begin(), task.end(), url_in_text);
       it != std::sregex_iterator(); ++it) {
    urls.push_back(it->str());
  }
  if (web.can_search()) {
    try {
      for (const web::SearchResult& r : web.search(task.substr(0, 300), 10)) urls.push_back(r.url);
    } catch (const Error& e) {
      errors.push_back(e.what());
    }
  }
  std::set<std::string> tried;
  for (const std::string& url : urls) {
    if (pages.size() >= kMaxPages || !tried.insert(url).second) continue;
    try {
      if (!web::host_allowed(web::parse_url(url), web.options().allowed_hosts)) continue;
      const web::Page page = web.fetch(url);
      pages.push_back(
          {{"url", page.url}, {"title", page.title}, {"text", page.text.substr(0, kPageChars)}});
    } catch (const Error& e) {
      errors.push_back(e.what());
    }
  }
  return {{"pages", pages}, {"errors", errors}};
}

// What BABS read is remembered under web/HOST (a re-run adds nothing: memories de-duplicate).
void remember_pages(const Workflow& w, const json& pages) {
  if (w.deps.memory == nullptr) return;
  std::vector<memory::NewMemory> memories;
  for (const json& p : pages) {
    const std::string url = text_of(p, "url");
    const std::vector<memory::Chunk> chunks = memory::chunk_text(text_of(p, "text"));
    for (size_t i = 0; i < chunks.size(); ++i) {
      memory::NewMemory m;
      m.text = chunks[i].text;
      m.namespace_path = "web/" + web::parse_url(url).host;
      m.source_kind = "web";
      m.source = url;
      m.metadata = {{"title", text_of(p, "title")}, {"chunk", i + 1}, {"chunks", chunks.size()}};
      memories.push_back(std::move(m));
    }
  }
  try {
    w.deps.memory->add_many(memories);
  } catch (const Error& e) {
    log::warn(std::string("BABS could not remember the pages she read: ") + e.what());
  }
}

Update research(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  json web = {{"pages", json::array()}, {"errors", json::array()}};
  if (w.deps.web != nullptr) {
    web = ctx.once("tool", [&] { return read_web(*w.deps.web, text_of(s, "task")); });
    remember_pages(w, web["pages"]);
    for (const json& e : web["errors"]) log::warn("BABS: " + e.get<std::string>());
  }
  const std::vector<Source> sources = collect_sources(w, s, web["pages"]);
  const std::string text = w.speaker.speak(ctx, "babs", research_prompt(s["task"], sources));
  json cited = json::array();
  for (const Source& src : sources) {
    cited.push_back({{"number", src.number}, {"kind", src.kind}, {"label", src.label}});
  }
  json report = {{"text", text}, {"sources", cited}};
  if (!web["errors"].empty()) report["web_errors"] = web["errors"];
  return Update{{"report", report}};
}

// BABS's report, followed by what BRICK's tools returned in this run.
std::string report_with_tools(const State& s) {
  std::string report = s["report"].is_object() ? text_of(s["report"], "text") : "";
  const std::string tools = s["tools"].is_array() ? tool_results_text(s["tools"]) : "";
  if (!tools.empty())
    report += (report.empty() ? "" : "\n\n") + std::string("Tool results:\n") + tools;
  return report;
}

Update use_tools_step(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  const std::string report = s["report"].is_object() ? text_of(s["report"], "text") : "";
  const json records = use_tools(w.speaker, *w.deps.forge, ctx, text_of(s, "task"), report);
  Update update{{"tools", records}};
  const std::string text = tool_results_text(records);
  if (!text.empty()) {
    json turns = s["dialogue"];
    turns.push_back({{"persona", "TOOL"}, {"id", "tool"}, {"text", text}});
    update["dialogue"] = turns;
  }
  return update;
}

Update propose(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  TotState tot = tot_from_json(s["tot"]);
  const int depth = tot.depth + 1;
  std::vector<Thought> parents = tot.beam;
  if (parents.empty()) parents.push_back({});  // the root: the task itself
  const std::string report = report_with_tools(s);
  tot.candidates.clear();
  int index = 0;
  for (const Thought& parent : parents) {
    std::vector<std::string> line = parent.line;
    if (!parent.text.empty()) line.push_back(parent.text);
    std::vector<Thought> context;
    for (const std::string& text : line) context.push_back({"", "", 0, text, {}, 0, ""});
    for (int k = 1; k <= w.limits.breadth; ++k) {
      Thought t;
      t.id = "d" + std::to_string(depth) + "." + std::to_string(++index);
      t.parent = parent.id;
      t.depth = depth;
      t.line = line;
      t.text = w.speaker.speak(
          ctx, "brick", propose_prompt(s["task"], report, context, k, w.limits.breadth),
          {"candidate " + t.id, static_cast<std::uint32_t>(depth * 1000 + index), 0});
      tot.candidates.push_back(std::move(t));
    }
  }
  return Update{{"tot", to_json(tot)}};
}

Update evaluate(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  TotState tot = tot_from_json(s["tot"]);
  for (Thought& t : tot.candidates) {
    const Decision d =
        w.speaker.decide(ctx, "robin", evaluate_prompt(s["task"], t), evaluation_schema(),
                         evaluation_default(), {"score " + t.id, 0, 0});
    t.score = d.value.value("score", 50) / 100.0;
    t.critique = text_of(d.value, "critique");
  }
  return Update{{"tot", to_json(tot)}};
}

Update turn(Workflow& w, NodeContext& ctx, const std::string& persona) {
  const State& s = ctx.state();
  std::vector<Turn> dialogue = dialogue_of(s);
  const std::string prompt =
      persona == "robin"
          ? robin_turn_prompt(s["task"], best_line(tot_from_json(s["tot"])), dialogue)
          : brick_turn_prompt(s["task"], dialogue);
  const std::string text = w.speaker.speak(ctx, persona, prompt);
  json turns = s["dialogue"];
  turns.push_back(
      {{"persona", w.speaker.codex().persona(persona).name}, {"id", persona}, {"text", text}});
  return Update{{"dialogue", turns}};
}

Update answer(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  const std::string report = report_with_tools(s);
  return Update{
      {"answer", w.speaker.speak(ctx, "alfred", answer_prompt(s["task"], report, dialogue_of(s)))}};
}

// BRICK's and ROBIN's final positions: their last turns, or the best thought and its critique
// when there was no dialogue.
std::pair<std::string, std::string> final_positions(const State& s) {
  std::string brick = last_turn_of(s, "brick");
  std::string robin = last_turn_of(s, "robin");
  const TotState tot = tot_from_json(s["tot"]);
  if (brick.empty() && !tot.beam.empty()) brick = tot.beam.front().text;
  if (robin.empty() && !tot.beam.empty()) robin = tot.beam.front().critique;
  return {brick, robin};
}

Update judge(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  const auto [brick, robin] = final_positions(s);
  const Decision d = w.speaker.decide(ctx, "alfred", judge_prompt(s["task"], brick, robin),
                                      judgement_schema(), judgement_default(), {"judgement", 0, 0});
  json judgement = d.value;
  judgement["default_used"] = d.used_default;
  if (d.used_default) judgement["problem"] = d.problem;
  return Update{{"judgement", judgement}};
}

struct Embedded {
  std::vector<float> brick;
  std::vector<float> robin;
  std::string embedder;  // what made them, said in the run's record
};

// The embedding model's vectors (journaled), or the built-in lexical embedder's when none is
// configured or the configured one cannot be reached; the latter is said in the log and in the
// dissonance record, never silently.
Embedded embed_positions(Workflow& w, NodeContext& ctx, const std::string& brick,
                         const std::string& robin) {
  const std::string& model = w.deps.embedding_model;
  std::string why = "lexical (built in): no [models] embedding is configured";
  if (!model.empty()) {
    try {
      const json vectors = ctx.once("embedding", [&] {
        return json{w.deps.models->embed(model, brick), w.deps.models->embed(model, robin)};
      });
      return {vectors[0].get<std::vector<float>>(), vectors[1].get<std::vector<float>>(), model};
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable && e.code() != ErrorCode::kNotFound) throw;
      why = "lexical (built in): the embedding model " + model + " is unavailable: " + e.what();
      log::warn("dissonance: " + why);
    }
  }
  return {memory::lexical_embedding(brick), memory::lexical_embedding(robin), why};
}

// The finished run as a memory, so that later runs (on any thread) recall it. Through the
// journal, so a re-run step does not remember it twice.
void remember_episode(Workflow& w, NodeContext& ctx, const json& episode, double dissonance) {
  const State& s = ctx.state();
  std::string text = "Task: " + text_of(s, "task") + "\nAnswer: " + text_of(s, "answer");
  if (s["report"].is_object()) text += "\nResearch: " + text_of(s["report"], "text");
  for (const json& t : s["dialogue"])
    text += "\n" + text_of(t, "persona") + ": " + text_of(t, "text");
  if (text.size() > memory::kMaxMemoryBytes) text.resize(memory::kMaxMemoryBytes);
  ctx.once("memory", [&] {
    memory::NewMemory m;
    m.text = valid_utf8(text);
    m.namespace_path = "episodes/" + ctx.thread_id();
    m.source_kind = "episode";
    m.source = "run " + ctx.run_id();
    m.metadata = {{"thread", ctx.thread_id()}, {"run", ctx.run_id()}, {"dissonance", dissonance}};
    m.importance = std::clamp(0.5 + dissonance / 2, 0.0, 1.0);
    const memory::AddResult added = w.deps.memory->add(m);
    return json{{"memory", added.id}, {"duplicate", added.duplicate}, {"episode", episode}};
  });
}

Update measure(Workflow& w, NodeContext& ctx) {
  const State& s = ctx.state();
  const auto [brick, robin] = final_positions(s);
  const Embedded embedded = embed_positions(w, ctx, brick, robin);
  DissonanceParts parts;
  parts.embedding_distance = embedding_divergence(embedded.brick, embedded.robin);
  parts.judged = s["judgement"].value("score", 50) / 100.0;
  const double score = combine_dissonance(parts, w.deps.motivator);
  const bool over = score > w.deps.motivator.dissonance_threshold;
  json result = {{"score", score},
                 {"embedding_distance", parts.embedding_distance},
                 {"judged", parts.judged},
                 {"reason", s["judgement"].value("reason", "")},
                 {"embedder", embedded.embedder},
                 {"threshold", w.deps.motivator.dissonance_threshold},
                 {"published", over}};
  if (over && w.deps.bus != nullptr) {
    // Published once, even if this step is run again after a crash.
    ctx.once("event", [&] {
      const json payload = {{"task", s["task"]},  {"brick", brick},  {"robin", robin},
                            {"score", score},     {"parts", result}, {"thread", ctx.thread_id()},
                            {"run", ctx.run_id()}};
      w.deps.bus->publish(motive::kCognitiveDissonance, payload);
      return json{{"topic", motive::kCognitiveDissonance}, {"payload", payload}};
    });
  }
  const json episode = {
      {"run", ctx.run_id()}, {"task", s["task"]}, {"answer", s["answer"]}, {"dissonance", score}};
  if (w.deps.memory != nullptr) remember_episode(w, ctx, episode, score);
  return Update{{"dissonance", result}, {"episodes", episode}};
}

size_t turns_of(const State& s, const char* id) {
  size_t n = 0;
  for (const json& t : s["dialogue"]) n += text_of(t, "id") == id ? 1U : 0U;
  return n;
}

}  // namespace

json workflow_input(const std::string& task, const std::vector<Document>& docs) {
  json documents = json::array();
  for (const Document& d : docs) documents.push_back({{"label", d.label}, {"text", d.text}});
  return {{"task", task},          {"docs", documents},    {"route", nullptr},
          {"report", nullptr},     {"tot", nullptr},       {"dialogue", json::array()},
          {"answer", nullptr},     {"judgement", nullptr}, {"dissonance", nullptr},
          {"tools", json::array()}};
}

std::string_view persona_of_node(std::string_view node) {
  if (node == "alfred_route" || node == "alfred_answer" || node == "alfred_judge") return "ALFRED";
  if (node == "babs_research") return "BABS";
  if (node == "brick_tools" || node == "brick_propose" || node == "brick_respond" ||
      node == "brick_forge") {
    return "BRICK";  // brick_forge: the capability graph's one step (persona/capability.h)
  }
  if (node == "robin_evaluate" || node == "robin_respond") return "ROBIN";
  return "";
}

graph::CompiledGraph workflow_graph(const WorkflowDeps& deps) {
  if (deps.models == nullptr || deps.codex == nullptr) {
    throw Error(ErrorCode::kInternal, "workflow_graph: no ModelManager or codex");
  }
  auto w = std::make_shared<Workflow>(Workflow{
      deps, Speaker(*deps.models, *deps.codex, deps.context_tokens),
      TotLimits{static_cast<int>(deps.socratic.breadth), static_cast<int>(deps.socratic.beam),
                static_cast<int>(deps.socratic.max_depth), deps.socratic.prune_threshold},
      static_cast<int>(deps.socratic.max_turns)});
  const std::string end(graph::kEnd);
  graph::StateGraph g;
  g.set_name(std::string(kWorkflowGraphName));
  for (const char* replace : {"task", "docs", "route", "report", "tot", "dialogue", "answer",
                              "judgement", "dissonance", "tools"}) {
    g.add_channel(replace, Reducer::kReplace);
  }
  g.add_channel("episodes", Reducer::kAppend);
  g.add_node("alfred_route", {"route"}, [w](NodeContext& c) { return route(*w, c); });
  g.add_node("babs_research", {"report"}, [w](NodeContext& c) { return research(*w, c); });
  // With a forge, BRICK's tool step comes between the research and his first proposals.
  const std::string first_thought = deps.forge != nullptr ? "brick_tools" : "brick_propose";
  if (deps.forge != nullptr) {
    g.add_node("brick_tools", {"tools", "dialogue"},
               [w](NodeContext& c) { return use_tools_step(*w, c); });
    g.add_edge("brick_tools", "brick_propose");
  }
  g.add_node("brick_propose", {"tot"}, [w](NodeContext& c) { return propose(*w, c); });
  g.add_node("robin_evaluate", {"tot"}, [w](NodeContext& c) { return evaluate(*w, c); });
  g.add_node("tot_select", {"tot"}, [w](const State& s) {
    TotState tot = tot_from_json(s["tot"]);
    select(tot, w->limits);
    return Update{{"tot", to_json(tot)}};
  });
  g.add_node("robin_respond", {"dialogue"}, [w](NodeContext& c) { return turn(*w, c, "robin"); });
  g.add_node("brick_respond", {"dialogue"}, [w](NodeContext& c) { return turn(*w, c, "brick"); });
  g.add_node("alfred_answer", {"answer"}, [w](NodeContext& c) { return answer(*w, c); });
  g.add_node("alfred_judge", {"judgement"}, [w](NodeContext& c) { return judge(*w, c); });
  g.add_node("dissonance", {"dissonance", "episodes"},
             [w](NodeContext& c) { return measure(*w, c); });
  g.set_entry_point("alfred_route");
  g.add_conditional_edges(
      "alfred_route",
      [first_thought](const State& s) {
        const bool research = s["route"].is_object() && s["route"].value("research", false);
        return std::vector<std::string>{research ? "babs_research" : first_thought};
      },
      {"babs_research", first_thought});
  g.add_edge("babs_research", first_thought);
  g.add_edge("brick_propose", "robin_evaluate");
  g.add_edge("robin_evaluate", "tot_select");
  g.add_conditional_edges(
      "tot_select",
      [w](const State& s) {
        if (should_expand(tot_from_json(s["tot"]), run_limits(*w, s))) {
          return std::vector<std::string>{"brick_propose"};
        }
        return std::vector<std::string>{run_turns(*w, s) > 0 ? "robin_respond" : "alfred_answer"};
      },
      {"brick_propose", "robin_respond", "alfred_answer"});
  g.add_edge("robin_respond", "brick_respond");
  g.add_conditional_edges(
      "brick_respond",
      [w](const State& s) {
        const bool more = static_cast<int>(turns_of(s, "robin")) < run_turns(*w, s);
        return std::vector<std::string>{more ? "robin_respond" : "alfred_answer"};
      },
      {"robin_respond", "alfred_answer"});
  g.add_edge("alfred_answer", "alfred_judge");
  g.add_edge("alfred_judge", "dissonance");
  g.add_edge("dissonance", end);
  return g.compile();
}

}  // namespace a4ps::persona
