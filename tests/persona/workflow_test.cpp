// The persona workflow with scripted persona outputs (no model): routing, the Tree of
// Thoughts, limits, dissonance and its event, structured-output fallbacks, and resume.
#include "persona/workflow.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "core/text.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "image/state_db.h"
#include "persona/speaker.h"
#include "support/scripted_backend.h"
#include "support/test_models.h"
#include "support/web_fixture.h"

namespace a4ps::persona {
namespace {

using nlohmann::json;
using testing::persona_of;
using testing::prompt_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Scripted personas: route as `research` says, BRICK's candidates are "idea K of <parent>",
// ROBIN scores each by `score_of`, ALFRED judges with `conflict`.
struct Script {
  bool research = false;
  int depth = -1;  // ALFRED's limits; -1: the most the schema allows ([socratic]'s)
  int turns = -1;
  double conflict = 0.2;
  std::function<double(const std::string& candidate)> score_of = [](const std::string&) {
    return 0.7;
  };
  std::string route_reply;                  // overrides the route JSON when set (e.g. garbage)
  std::function<void()> on_brick_proposal;  // called as BRICK proposes (e.g. to cancel)
  int failing_answers = 0;                  // ALFRED's final answer throws this many times
  bool route_hangs = false;  // ALFRED's route never answers, until the call's deadline stops it

  std::string reply(const llm::ChatRequest& r) {
    const std::string who = persona_of(r);
    const std::string prompt = prompt_of(r);
    if (who == "ALFRED" && contains(prompt, "Decide the route")) {
      if (route_hangs) {
        while (!r.cancel.stop_requested())
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return "{\"research\": tr";
      }
      if (!route_reply.empty()) return route_reply;
      const json& allowed = (*r.json_schema)["properties"];
      return json{{"research", research},
                  {"plan", "think it through"},
                  {"depth", depth < 0 ? allowed["depth"]["maximum"].get<int>() : depth},
                  {"turns", turns < 0 ? allowed["turns"]["maximum"].get<int>() : turns}}
          .dump();
    }
    if (who == "ALFRED" && contains(prompt, "Judge the conflict")) {
      return json{{"score", static_cast<int>(conflict * 100)}, {"reason", "they disagree on speed"}}
          .dump();
    }
    if (who == "ALFRED") {
      if (failing_answers > 0) {
        --failing_answers;
        throw std::runtime_error("the answer model crashed");
      }
      return "Welcome people gently, measure what helps [1].";
    }
    if (who == "BABS") return "The atlas serves newcomers [1].";
    if (who == "BRICK" && contains(prompt, "Propose candidate thought")) {
      if (on_brick_proposal) on_brick_proposal();
      const size_t at = prompt.find("Propose candidate thought ") + 26;
      const std::string k = prompt.substr(at, prompt.find(' ', at) - at);
      const size_t line = prompt.find("Your line of thought so far:\n- ");
      const std::string parent =
          line == std::string::npos
              ? "root"
              : prompt.substr(line + 32, prompt.find('\n', line + 32) - line - 32);
      return "idea " + k + " of " + parent;
    }
    if (who == "BRICK") return "BRICK: efficiency first, with care.";
    if (who == "ROBIN" && r.json_schema) {
      const size_t at = prompt.find("A candidate thought from BRICK:\n") + 32;
      const std::string candidate = prompt.substr(at, prompt.find('\n', at) - at);
      return json{{"score", static_cast<int>(score_of(candidate) * 100 + 0.5)},
                  {"critique", "weighed " + candidate}}
          .dump();
    }
    return "ROBIN: feelings first, then speed.";
  }
};

struct Harness {
  Config config = Config::defaults();
  Codex codex = Codex::builtin(config);
  // Scripted replies take microseconds; a call that waits this long is a hang by design.
  llm::ModelManager models{llm::ModelManagerOptions{.call_timeout = std::chrono::seconds(2)}};
  motive::EventBus bus;
  Script script;
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> prompts;  // persona -> prompts, guarded by mu
  std::unique_ptr<graph::Checkpointer> checkpointer = graph::Checkpointer::open_in_memory();
  WorkflowDeps deps;

  explicit Harness(SocraticConfig socratic = {}) {
    for (const char* model : {"alfred", "babs", "brick", "robin"}) {
      models.register_remote(
          model, std::make_unique<testing::ScriptedBackend>([this](const llm::ChatRequest& r) {
            {
              std::lock_guard lock(mu);
              prompts[persona_of(r)].push_back(prompt_of(r));
            }
            return script.reply(r);
          }));
    }
    deps.models = &models;
    deps.codex = &codex;
    deps.socratic = socratic;
    deps.motivator = config.motivator;
    deps.bus = &bus;
  }

  graph::RunResult run(const std::string& task, std::vector<Document> docs = {},
                       const std::string& thread = "t") {
    return graph::start_run(workflow_graph(deps), *checkpointer, thread,
                            workflow_input(task, docs));
  }
  size_t count(const std::string& persona, const std::string& part = "") {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const std::string& p : prompts[persona]) n += contains(p, part) ? 1U : 0U;
    return n;
  }
};

SocraticConfig small(int breadth, int beam, int depth, int turns, double prune = 0.3) {
  SocraticConfig s;
  s.breadth = breadth;
  s.beam = beam;
  s.max_depth = depth;
  s.max_turns = turns;
  s.prune_threshold = prune;
  return s;
}

TEST(Workflow, LongPromptsLoseTheirMiddleAndStayValidText) {
  const std::string prompt =
      "Task: T\n" + std::string(5000, 'x') + "\u00e9" + std::string(5000, 'y') + "\nAnswer now.";
  const std::string fitted = fit_prompt(prompt, 1000);
  EXPECT_LE(fitted.size(), 1000u);
  EXPECT_EQ(fitted.rfind("Task: T", 0), 0u);
  EXPECT_NE(fitted.find("[...]"), std::string::npos);
  EXPECT_EQ(fitted.substr(fitted.size() - 11), "Answer now.");
  EXPECT_EQ(fit_prompt("short", 1000), "short");
  const std::string cut_in_a_character =
      fit_prompt(std::string(395, 'a') + "\u00e9\u00e9" + std::string(600, 'b'), 400);
  EXPECT_EQ(cut_in_a_character, valid_utf8(cut_in_a_character));
}

TEST(Workflow, RoutesThroughBabsWhenAlfredAsksAndHerReportCitesTheDocuments) {
  Harness h(small(2, 1, 1, 1));
  h.script.research = true;
  const graph::RunResult r = h.run(
      "Design the onboarding", {{"atlas.md", "The Community Resource Atlas lists food banks."}});
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(h.count("BABS"), 1u);
  EXPECT_EQ(h.count("BABS", "[1] (document: atlas.md)\nThe Community Resource Atlas"), 1u);
  EXPECT_EQ(r.state["report"]["sources"][0]["label"], "atlas.md");
  EXPECT_EQ(r.state["report"]["text"], "The atlas serves newcomers [1].");
  EXPECT_EQ(h.count("ALFRED", "BABS's research report:\nThe atlas serves newcomers"), 1u);
  EXPECT_EQ(r.state["answer"], "Welcome people gently, measure what helps [1].");
}

TEST(Workflow, GoesStraightToBrickWhenNoResearchIsNeeded) {
  Harness h(small(2, 1, 1, 1));
  const graph::RunResult r = h.run("Design the onboarding");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(h.count("BABS"), 0u);
  EXPECT_TRUE(r.state["report"].is_null());
  EXPECT_EQ(r.state["route"]["research"], false);
  EXPECT_EQ(r.state["route"]["default_used"], false);
}

TEST(Workflow, TheTreeOfThoughtsKeepsTheBeamPrunesAndBacktracks) {
  Harness h(small(2, 1, 2, 1, 0.5));
  // Depth 1: idea 1 (0.9) leads, idea 2 (0.6) is set aside; depth 2: both children of idea 1
  // score under the threshold, so the search backtracks to idea 2.
  h.script.score_of = [](const std::string& c) {
    if (c == "idea 1 of root") return 0.9;
    if (c == "idea 2 of root") return 0.6;
    return 0.1;
  };
  const graph::RunResult r = h.run("Design the onboarding");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  const json& tot = r.state["tot"];
  EXPECT_EQ(tot["depth"], 2);
  ASSERT_EQ(tot["beam"].size(), 1u);
  EXPECT_EQ(tot["beam"][0]["text"], "idea 2 of root");
  EXPECT_EQ(tot["pruned"].size(), 2u);
  EXPECT_NE(tot["notes"][1].get<std::string>().find("backtracked to d1.2"), std::string::npos);
  EXPECT_EQ(h.count("BRICK", "Your line of thought so far:\n- idea 1 of root"), 2u);
  EXPECT_EQ(h.count("ROBIN", "BRICK's best line of thought:\n- idea 2 of root"), 1u);
}

TEST(Workflow, BreadthBeamDepthAndTurnLimitsAreRespected) {
  Harness h(small(3, 2, 2, 2));
  const graph::RunResult r = h.run("Design the onboarding");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(h.count("BRICK", "Propose candidate thought"), 3u + 2u * 3u);
  EXPECT_EQ(h.count("ROBIN", "A candidate thought from BRICK"), 9u);
  EXPECT_EQ(h.count("ROBIN", "Answer BRICK as ROBIN"), 2u);
  EXPECT_EQ(h.count("BRICK", "Answer ROBIN as BRICK"), 2u);
  EXPECT_EQ(r.state["dialogue"].size(), 4u);
  EXPECT_EQ(r.state["tot"]["depth"], 2);
}

TEST(Workflow, AlfredMayLowerTheSocraticLimitsButNeverRaiseThem) {
  Harness h(small(2, 1, 3, 2));
  h.script.depth = 1;
  h.script.turns = 0;
  const graph::RunResult r = h.run("Say hello");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(r.state["tot"]["depth"], 1);
  EXPECT_EQ(r.state["dialogue"].size(), 0u);
  EXPECT_EQ(h.count("BRICK", "Propose candidate thought"), 2u);
}

TEST(Workflow, DissonanceOverTheThresholdPublishesTheEventAndUnderItDoesNot) {
  for (const double conflict : {1.0, 0.0}) {
    Harness h(small(2, 1, 1, 1));
    h.deps.motivator.dissonance_embedding_weight = 0;
    h.deps.motivator.dissonance_judge_weight = 1;
    h.script.conflict = conflict;
    std::vector<motive::BusEvent> seen;
    h.bus.subscribe(motive::kCognitiveDissonance,
                    [&](const motive::BusEvent& e) { seen.push_back(e); });
    const graph::RunResult r = h.run("Design the onboarding");
    ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
    EXPECT_DOUBLE_EQ(r.state["dissonance"]["score"].get<double>(), conflict);
    EXPECT_NE(r.state["dissonance"]["embedder"].get<std::string>().find("lexical (built in)"),
              std::string::npos);
    if (conflict > 0.8) {
      ASSERT_EQ(seen.size(), 1u);
      EXPECT_EQ(seen[0].payload["task"], "Design the onboarding");
      EXPECT_EQ(seen[0].payload["brick"], "BRICK: efficiency first, with care.");
      EXPECT_EQ(seen[0].payload["robin"], "ROBIN: feelings first, then speed.");
      EXPECT_EQ(r.state["dissonance"]["published"], true);
    } else {
      EXPECT_TRUE(seen.empty());
      EXPECT_EQ(r.state["dissonance"]["published"], false);
    }
  }
}

TEST(Workflow, DissonanceUsesTheEmbeddingModelOrSaysWhyItCouldNot) {
  Harness h(small(2, 1, 1, 1));
  h.models.register_remote("embedder", std::make_unique<testing::ScriptedBackend>(
                                           [](const llm::ChatRequest&) { return ""; }));
  h.deps.embedding_model = "embedder";
  const graph::RunResult used = h.run("Design the onboarding", {}, "with-model");
  ASSERT_EQ(used.status, graph::RunStatus::kDone) << used.error;
  EXPECT_EQ(used.state["dissonance"]["embedder"], "embedder");
  h.deps.embedding_model = "not-registered";
  const graph::RunResult fallback = h.run("Design the onboarding", {}, "without");
  ASSERT_EQ(fallback.status, graph::RunStatus::kDone) << fallback.error;
  const std::string embedder = fallback.state["dissonance"]["embedder"];
  EXPECT_NE(embedder.find("lexical (built in): the embedding model not-registered is unavailable"),
            std::string::npos)
      << embedder;
}

TEST(Workflow, AnUnusableDecisionIsRetriedOnceThenTakesTheSafeDefault) {
  Harness h(small(2, 1, 1, 1));
  h.script.route_reply = "I think we should research, yes";
  const graph::RunResult r =
      h.run("Design the onboarding", {{"notes.txt", "Newcomers want to feel safe."}});
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(h.count("ALFRED", "Decide the route"), 2u);  // the call and one retry
  EXPECT_EQ(r.state["route"]["default_used"], true);
  EXPECT_EQ(r.state["route"]["research"], true);  // the default researches when there are sources
  bool journaled = false;
  for (const auto& c : h.checkpointer->history(r.thread_id)) {
    for (const auto& e : h.checkpointer->journal(r.thread_id, c.id)) {
      if (e.kind == "fallback") journaled = e.value["persona"] == "ALFRED";
    }
  }
  EXPECT_TRUE(journaled);
}

TEST(Workflow, ACallStoppedAtItsDeadlineIsJournaledAndTheDecisionTakesItsDefaultAtOnce) {
  Harness h(small(2, 1, 1, 1));
  h.script.route_hangs = true;
  const graph::RunResult r = h.run("Design the onboarding");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_EQ(h.count("ALFRED", "Decide the route"), 1u);  // no second attempt into the trap
  EXPECT_EQ(r.state["route"]["default_used"], true);
  bool deadline_journaled = false;
  bool fallback_journaled = false;
  for (const auto& c : h.checkpointer->history(r.thread_id)) {
    for (const auto& e : h.checkpointer->journal(r.thread_id, c.id)) {
      if (e.kind == "model" && e.value.value("stop", "") == "deadline") {
        deadline_journaled = true;
        EXPECT_NE(e.value.value("problem", "").find("call_timeout_seconds"), std::string::npos);
      }
      if (e.kind == "fallback") fallback_journaled = true;
    }
  }
  EXPECT_TRUE(deadline_journaled);
  EXPECT_TRUE(fallback_journaled);
}

TEST(Workflow, AResumedRunRepeatsNoJournaledModelCall) {
  Harness h(small(2, 2, 2, 1));
  h.script.failing_answers = 1;
  const graph::RunResult failed = h.run("Design the onboarding");
  ASSERT_EQ(failed.status, graph::RunStatus::kError);
  EXPECT_EQ(failed.failed_node, "alfred_answer");
  const size_t brick_before = h.count("BRICK");
  const size_t robin_before = h.count("ROBIN");
  const graph::RunResult done =
      graph::resume_run(workflow_graph(h.deps), *h.checkpointer, failed.thread_id);
  ASSERT_EQ(done.status, graph::RunStatus::kDone) << done.error;
  EXPECT_EQ(h.count("BRICK"), brick_before);
  EXPECT_EQ(h.count("ROBIN"), robin_before);
  EXPECT_EQ(h.count("ALFRED", "Write the final answer"), 2u);  // the failed call, then the retry
  EXPECT_EQ(done.state["episodes"].size(), 1u);
}

TEST(Workflow, ACallCutShortByCancellationIsNotJournaledSoTheResumedRunFinishes) {
  Harness h(small(2, 1, 1, 1));
  std::stop_source stop;
  // BRICK's first proposal cancels the run: his second call, in the same step, is cut short.
  h.script.on_brick_proposal = [&stop] { stop.request_stop(); };
  graph::RunOptions options;
  options.cancel = stop.get_token();
  const graph::RunResult cancelled = graph::start_run(
      workflow_graph(h.deps), *h.checkpointer, "cut", workflow_input("Design it", {}), options);
  ASSERT_EQ(cancelled.status, graph::RunStatus::kCancelled) << cancelled.error;
  h.script.on_brick_proposal = nullptr;
  const graph::RunResult resumed =
      graph::resume_run(workflow_graph(h.deps), *h.checkpointer, cancelled.thread_id);
  ASSERT_EQ(resumed.status, graph::RunStatus::kDone) << resumed.error;
  EXPECT_EQ(resumed.state["answer"], "Welcome people gently, measure what helps [1].");
}

TEST(Workflow, ASecondRunOnTheThreadCitesTheFirstAsAnEarlierTurn) {
  Harness h(small(2, 1, 1, 1));
  h.script.research = true;
  ASSERT_EQ(h.run("Design the onboarding", {}, "same").status, graph::RunStatus::kDone);
  const graph::RunResult second = h.run("Now shorten it", {}, "same");
  ASSERT_EQ(second.status, graph::RunStatus::kDone) << second.error;
  EXPECT_EQ(second.state["episodes"].size(), 2u);
  EXPECT_EQ(h.count("BABS", "(earlier turn: run r-"), 1u);
  EXPECT_EQ(h.count("BABS", "Task: Design the onboarding\nAnswer: Welcome people gently"), 1u);
}

TEST(Workflow, ALaterRunRecallsAnEarlierRunFromMemoryAndBabsCitesIt) {
  Harness h(small(2, 1, 1, 1));
  const auto db = a4ps::testing::scratch_dir() / "workflow-memory" / "state.db";
  std::filesystem::remove_all(db.parent_path());
  std::filesystem::create_directories(db.parent_path());
  migrate_state_db(db);
  auto store = memory::MemoryStore::open(db, memory::lexical_embedder());
  h.deps.memory = store.get();
  h.script.research = true;
  const graph::RunResult first =
      h.run("Note for later: the Community Resource Atlas opens at eight.", {}, "first");
  ASSERT_EQ(first.status, graph::RunStatus::kDone) << first.error;
  EXPECT_EQ(store->stats().live, 1);
  const graph::RunResult second =
      h.run("When does the Community Resource Atlas open?", {}, "second");
  ASSERT_EQ(second.status, graph::RunStatus::kDone) << second.error;
  // BABS's prompt numbers the remembered episode and quotes the fact; her report lists it.
  EXPECT_EQ(h.count("BABS", "[1] (memory episode: episodes/first #"), 1u);
  EXPECT_EQ(h.count("BABS", "Task: Note for later: the Community Resource Atlas opens at eight."),
            1u);
  ASSERT_FALSE(second.state["report"]["sources"].empty());
  EXPECT_EQ(second.state["report"]["sources"][0]["kind"], "memory episode");
  // Each finished run is remembered once.
  EXPECT_EQ(store->stats().live, 2);
}

TEST(Workflow, BabsReadsTheAllowedWebCitesThePageAndRemembersIt) {
  testing::FixtureServer server;
  web::WebOptions options;
  options.search_url = server.url("/search");
  options.allowed_hosts = {"127.0.0.1"};
  const web::WebClient web(options);
  const auto db = a4ps::testing::scratch_dir() / "workflow-web" / "state.db";
  std::filesystem::remove_all(db.parent_path());
  std::filesystem::create_directories(db.parent_path());
  migrate_state_db(db);
  auto store = memory::MemoryStore::open(db, memory::lexical_embedder());
  Harness h(small(2, 1, 1, 1));
  h.deps.memory = store.get();
  h.deps.web = &web;
  h.script.research = true;
  const graph::RunResult run = h.run("When was the lighthouse at Kestrel Point automated?");
  ASSERT_EQ(run.status, graph::RunStatus::kDone) << run.error;
  EXPECT_EQ(server.last_query(), "When was the lighthouse at Kestrel Point automated?");
  // The allowed result was read once; the one on blocked.invalid was never requested.
  EXPECT_EQ(server.page_hits(), 1);
  const json& sources = run.state["report"]["sources"];
  ASSERT_FALSE(sources.empty());
  EXPECT_EQ(sources[0]["kind"], "web");
  EXPECT_EQ(sources[0]["label"], server.url("/page.html"));
  EXPECT_FALSE(run.state["report"].contains("web_errors"));
  EXPECT_EQ(h.count("BABS", "[1] (web: " + server.url("/page.html") + ")"), 1u);
  EXPECT_EQ(h.count("BABS", "was automated in 1987."), 1u);
  // What she read is a memory now, with its URL, found by a later search.
  memory::SearchOptions web_only;
  web_only.namespace_prefix = "web";
  const auto hits = store->search("Kestrel lighthouse automated", web_only);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_kind, "web");
  EXPECT_EQ(hits[0].source, server.url("/page.html"));
  EXPECT_EQ(hits[0].namespace_path, "web/127.0.0.1");
}

TEST(Workflow, AnUnreachableSearchEndpointIsReportedAndTheRunGoesOn) {
  web::WebOptions options;
  options.search_url = "http://127.0.0.1:1/search";
  options.allowed_hosts = {"127.0.0.1"};
  const web::WebClient web(options);
  Harness h(small(2, 1, 1, 1));
  h.deps.web = &web;
  h.script.research = true;
  const graph::RunResult run = h.run("Anything new about Kestrel Point?");
  ASSERT_EQ(run.status, graph::RunStatus::kDone) << run.error;
  const json& errors = run.state["report"]["web_errors"];
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].get<std::string>().find("127.0.0.1:1/search?q="), std::string::npos)
      << errors[0];
}

}  // namespace
}  // namespace a4ps::persona
