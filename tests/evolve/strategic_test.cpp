// The strategic loop's parts that need no model: the gate's statistics, the store's decisions
// and pointer, the schema 6 migration of the goals, and a dataset's frozen held-out split over
// episodes journaled by a real graph run.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>

#include "core/error.h"
#include "core/hash.h"
#include "evolve/chat_jsonl.h"
#include "evolve/dataset.h"
#include "evolve/evolve_store.h"
#include "evolve/gate.h"
#include "evolve/oracle.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "graph/state_graph.h"
#include "image/sqlite.h"
#include "image/state_db.h"
#include "motive/goals.h"
#include "persona/workflow.h"
#include "support/test_models.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = a4ps::testing::scratch_dir() / "evolve" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return ErrorCode::kInternal;
}

TEST(Gate, ThePairedBootstrapIsSeededAndSeesAClearImprovement) {
  const std::vector<double> base = {5.0, 5.2, 4.9, 5.1, 5.0, 5.3, 4.8, 5.05};
  std::vector<double> better = base;
  for (double& l : better) l -= 0.5;
  const PairedComparison c = paired_bootstrap(base, better, 2000, 7);
  EXPECT_NEAR(c.mean_improvement, 0.5, 1e-12);
  EXPECT_NEAR(c.ci_low, 0.5, 1e-9);  // every difference is 0.5: no spread at all
  EXPECT_EQ(c.n, 8);
  const std::vector<double> noisy = {4.0, 5.9, 4.2, 5.8, 4.1, 6.0, 4.3, 5.7};
  const PairedComparison n1 = paired_bootstrap(base, noisy, 2000, 7);
  const PairedComparison n2 = paired_bootstrap(base, noisy, 2000, 7);
  EXPECT_EQ(n1.ci_low, n2.ci_low);  // the same losses, the same verdict
  EXPECT_LT(n1.ci_low, 0.0);        // about no change on average: the interval spans zero
  EXPECT_GT(n1.ci_high, 0.0);
  EXPECT_LE(n1.ci_low, n1.mean_improvement);
  EXPECT_GE(n1.ci_high, n1.mean_improvement);
  EXPECT_EQ(code_of([&] { paired_bootstrap(base, {1.0}, 100, 1); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { paired_bootstrap({}, {}, 100, 1); }), ErrorCode::kInvalidArgument);
}

TEST(EvolveStore, DecisionsMoveThePointerAndKeepEveryStep) {
  const auto dir = fresh_dir("store");
  ASSERT_EQ(migrate_state_db(dir / "state.db"), current_state_db_version());
  auto store = EvolveStore::open(dir / "state.db");
  EXPECT_FALSE(store->adopted("robin"));
  for (std::int64_t v = 1; v <= 2; ++v) {
    AdapterRecord a;
    a.persona = "robin";
    a.version = store->next_adapter_version("robin");
    EXPECT_EQ(a.version, v);
    a.trainer = "a4ps";
    a.step_losses = {3.0f, 2.0f};
    a.held_out_losses = {2.5};
    store->add_adapter(a);
  }
  AdoptionDecision adopt;
  adopt.persona = "robin";
  adopt.version = 1;
  adopt.action = "adopt";
  adopt.figures = {{"ci_low", 0.2}};
  store->decide(adopt);
  EXPECT_EQ(store->adopted("robin"), 1);
  adopt.version = 2;
  adopt.baseline = 1;
  store->decide(adopt);
  EXPECT_EQ(store->adopted("robin"), 2);
  EXPECT_EQ(store->adapter("robin", 1)->status, AdapterStatus::kRetired);
  EXPECT_EQ(store->adapter("robin", 2)->status, AdapterStatus::kAdopted);
  AdoptionDecision back;
  back.persona = "robin";
  back.action = "rollback";
  back.baseline = 2;
  store->decide(back);  // to the base
  EXPECT_FALSE(store->adopted("robin"));
  EXPECT_EQ(store->adapter("robin", 2)->status, AdapterStatus::kRetired);
  const auto decisions = store->decisions("robin");
  ASSERT_EQ(decisions.size(), 3u);
  EXPECT_EQ(decisions[0].action, "rollback");
  EXPECT_EQ(decisions[2].figures["ci_low"], 0.2);
  EXPECT_EQ(store->adapter("robin", 1)->step_losses, (std::vector<float>{3.0f, 2.0f}));
  // A reader sees the same while the writer holds the database.
  EXPECT_FALSE(EvolveStore::open_read_only(dir / "state.db")->adopted("robin"));
}

TEST(EvolveStore, SchemaSixKeepsTheGoalsAndAdmitsEvolveGoals) {
  const auto dir = fresh_dir("migrate");
  const auto path = dir / "state.db";
  const std::vector<Migration> up_to_5(state_db_migrations().begin(),
                                       state_db_migrations().begin() + 5);
  ASSERT_EQ(migrate_state_db(path, up_to_5), 5);
  std::string message;
  EXPECT_EQ(code_of([&] { EvolveStore::open(path); }, &message), ErrorCode::kFailedPrecondition);
  EXPECT_NE(message.find("schema older than 6"), std::string::npos) << message;
  std::int64_t id = 0;
  {
    auto goals = motive::GoalStore::open(path);
    motive::NewGoal g;
    g.kind = motive::GoalKind::kUser;
    g.theme = "user:x";
    g.prompt = "keep me";
    g.priority = 50;
    g.budget_tokens = 10;
    id = goals->create(g).id;
  }
  EXPECT_EQ(migrate_state_db(path), 6);
  EXPECT_EQ(motive::GoalStore::open(path)->get(id).prompt, "keep me");
  auto db = sql::Database::open(path.string());
  db->exec(
      "INSERT INTO goals (kind, theme, prompt, priority, status, budget_tokens, created_ms,"
      " updated_ms) VALUES ('evolve', 'evolve:robin', 'train', 40, 'queued', 1, 1, 1)",
      "an evolve goal");
}

// A finished "workflow" run whose ROBIN turns are the given outputs (a real graph run: the
// turns are journaled model calls, as the workflow's are).
void journal_episode(graph::Checkpointer& cp, const std::string& thread, const Persona& robin,
                     const std::vector<std::string>& outputs) {
  graph::StateGraph g;
  g.set_name(std::string(persona::kWorkflowGraphName))
      .add_channel("task", graph::Reducer::kReplace)
      .add_channel("answer", graph::Reducer::kReplace)
      .add_node("robin_respond", {"answer"},
                [&](graph::NodeContext& ctx) {
                  for (const std::string& text : outputs) {
                    ctx.once("model", [&] {
                      return json{{"persona", robin.name},
                                  {"text", text},
                                  {"stop", "eos"},
                                  {"input", "Judge: " + text.substr(0, 6)},
                                  {"system_sha256", sha256_hex(robin.full_system_prompt())}};
                    });
                  }
                  return graph::Update{{"answer", outputs.back()}};
                })
      .add_edge("robin_respond", std::string(graph::kEnd))
      .set_entry_point("robin_respond");
  const graph::RunResult r = graph::start_run(g.compile(), cp, thread, {{"task", "a task"}});
  ASSERT_EQ(r.status, graph::RunStatus::kDone);
}

// Every judged part golden: what the Oracle would store.
void judge_all(EvolveStore& store, graph::Checkpointer& cp, const Persona& robin) {
  for (const Episode& e : finished_episodes(cp)) {
    if (store.has_judgement(e.run_id, robin.id, "r")) continue;
    Judgement j;
    j.run_id = e.run_id;
    j.thread_id = e.thread_id;
    j.persona = robin.id;
    j.rubric_sha256 = "r";
    j.score = 0.9;
    j.golden = true;
    for (const Turn& t : e.turns.at(robin.name)) {
      j.turns.push_back({{"checkpoint", t.checkpoint}, {"node", t.node}, {"key", t.key}});
    }
    store.add_judgement(j);
  }
}

std::set<std::string> lines_of(const std::filesystem::path& file) {
  std::set<std::string> out;
  for (const ChatExample& e : read_chat_jsonl(file)) out.insert(chat_example_line(e));
  return out;
}

TEST(Dataset, TheHeldOutSplitIsFrozenAcrossVersions) {
  const auto dir = fresh_dir("dataset");
  ASSERT_EQ(migrate_state_db(dir / "state.db"), current_state_db_version());
  auto cp = graph::Checkpointer::open(dir / "state.db");
  auto store = EvolveStore::open(dir / "state.db");
  const Codex codex = Codex::builtin(Config::defaults());
  const Persona& robin = codex.persona("robin");
  std::string message;
  EXPECT_EQ(code_of([&] { build_dataset(*store, *cp, robin, dir, 0.3, 4); }, &message),
            ErrorCode::kFailedPrecondition);
  EXPECT_NE(
      message.find("ROBIN has 0 usable golden turns; a dataset needs [evolve] min_examples = 4"),
      std::string::npos)
      << message;
  journal_episode(*cp, "e1", robin, {"alpha one", "beta two", "gamma three", "alpha one"});
  journal_episode(*cp, "e2", robin, {"delta four", "epsilon five", "zeta six"});
  judge_all(*store, *cp, robin);
  const DatasetBuild v1 = build_dataset(*store, *cp, robin, dir, 0.3, 4);
  EXPECT_EQ(v1.record.version, 1);
  EXPECT_EQ(v1.duplicates, 1);
  EXPECT_EQ(v1.record.n_train + v1.record.n_held_out, 6);
  EXPECT_GE(v1.record.n_held_out, 1);
  EXPECT_EQ(store->golden_since_last_dataset("robin"), 0);
  journal_episode(*cp, "e3", robin, {"eta seven", "theta eight", "iota nine", "kappa ten"});
  judge_all(*store, *cp, robin);
  EXPECT_EQ(store->golden_since_last_dataset("robin"), 1);
  const DatasetBuild v2 = build_dataset(*store, *cp, robin, dir, 0.3, 4);
  EXPECT_EQ(v2.record.version, 2);
  EXPECT_EQ(v2.record.n_train + v2.record.n_held_out, 10);
  const auto held1 = lines_of(v1.dir / "held_out.jsonl");
  const auto held2 = lines_of(v2.dir / "held_out.jsonl");
  const auto train1 = lines_of(v1.dir / "train.jsonl");
  const auto train2 = lines_of(v2.dir / "train.jsonl");
  for (const std::string& line : held1)
    EXPECT_TRUE(held2.count(line)) << "held out before: " << line;
  for (const std::string& line : train1)
    EXPECT_TRUE(train2.count(line)) << "trained on before: " << line;
  for (const std::string& line : held2) EXPECT_FALSE(train2.count(line));
  // Each example is the persona's system prompt, the turn's input and its output.
  const ChatExample first = read_chat_jsonl(v2.dir / "train.jsonl").front();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].content, robin.full_system_prompt());
  EXPECT_TRUE(first[1].content.starts_with("Judge: "));
  // The files are checked against the recorded hash when read back.
  EXPECT_EQ(read_dataset(dir, v2.record).train.size(), train2.size());
  std::ofstream(v2.dir / "train.jsonl", std::ios::app) << chat_example_line(first) << "\n";
  EXPECT_EQ(code_of([&] { read_dataset(dir, v2.record); }), ErrorCode::kDataLoss);
}

TEST(Rubric, ComesFromThePersonasImperativesAndChangesWithThem) {
  const Codex codex = Codex::builtin(Config::defaults());
  Persona robin = codex.persona("robin");
  const Rubric r = rubric_for(robin);
  ASSERT_EQ(r.criteria.size(), robin.core_imperatives.size() + 1);
  EXPECT_NE(r.criteria.front().find(robin.core_imperatives.front()), std::string::npos);
  robin.core_imperatives.push_back("Be brief.");
  EXPECT_NE(rubric_for(robin).sha256, r.sha256);
}

}  // namespace
}  // namespace a4ps::evolve
