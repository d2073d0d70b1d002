// The Tool Forge end to end, with BRICK scripted (through the ModelManager, the speaker and,
// for reproducibility, a recording replayed) and every tool run in the real sandbox: a buggy
// first attempt fixed by the second, giving up, vacuous and spoofing tests rejected, the
// registry across restarts, tampering, rollback, and a tool used in the run that requested it.
#include "forge/tool_forge.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "image/state_db.h"
#include "llm/recording.h"
#include "persona/capability.h"
#include "persona/speaker.h"
#include "persona/tool_use.h"
#include "persona/workflow.h"
#include "support/forge_script.h"
#include "support/scripted_backend.h"

namespace a4ps::forge {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using testing::persona_of;
using testing::prompt_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using testing::word_count_answer;
const char* const kBuggy = testing::kBuggyWordCount;
const char* const kFixed = testing::kFixedWordCount;

// An image directory with a migrated state.db, removed afterwards.
struct TempImage {
  fs::path dir;
  TempImage() {
    dir = fs::temp_directory_path() /
          ("a4ps-forge-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    migrate_state_db(dir / "state.db");
  }
  ~TempImage() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static std::atomic<int>& counter() {
    static std::atomic<int> n{0};
    return n;
  }
};

SandboxConfig test_sandbox_config() {
  SandboxConfig c;
  c.wall_ms = 8000;
  c.memory_mb = 256;
  return c;
}

// BRICK answers attempt N with answers[N-1] (the last one repeats); other calls get "".
struct ForgeFixture {
  TempImage image;
  Config config = Config::defaults();
  Codex codex = Codex::builtin(config);
  std::unique_ptr<Sandbox> sandbox = Sandbox::create(test_sandbox_config());
  std::unique_ptr<ToolRegistry> registry = ToolRegistry::open(image.dir);
  motive::EventBus bus;
  std::mutex mu;
  std::vector<motive::BusEvent> events;  // guarded by mu
  std::vector<std::string> answers;
  std::vector<std::string> prompts;  // BRICK's forge prompts, guarded by mu

  explicit ForgeFixture(std::initializer_list<json> attempt_answers = {}) {
    for (const json& a : attempt_answers)
      answers.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    bus.subscribe("*", [this](const motive::BusEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    });
  }

  std::string reply(const llm::ChatRequest& r) {
    const std::string prompt = prompt_of(r);
    std::lock_guard lock(mu);
    if (!contains(prompt, "Write a Python tool")) return "";
    prompts.push_back(prompt);
    size_t attempt = 1;
    while (contains(prompt, "Attempt " + std::to_string(attempt) + " failed")) ++attempt;
    return answers[std::min(attempt, answers.size()) - 1];
  }

  ToolForge forge(int max_attempts = 3) {
    return ToolForge(*registry, sandbox.get(), "",
                     SandboxLimits::from_config(test_sandbox_config()), max_attempts, &bus);
  }

  // Forges through the real speaker and a ModelManager whose "brick" is `backend`.
  ForgeOutcome run_forge(std::unique_ptr<llm::Backend> backend, int max_attempts = 3,
                         const fs::path& record = {}) {
    llm::ModelManagerOptions options;
    options.record_path = record;
    llm::ModelManager models(options);
    models.register_remote("brick", std::move(backend));
    persona::Speaker speaker(models, codex, 8192);
    persona::BrickAuthor author(speaker, nullptr);
    ToolForge f = forge(max_attempts);
    return f.forge({"count the words in a text", "", "", "", {}}, author);
  }

  ForgeOutcome run_scripted(int max_attempts = 3, const fs::path& record = {}) {
    return run_forge(std::make_unique<testing::ScriptedBackend>(
                         [this](const llm::ChatRequest& r) { return reply(r); }),
                     max_attempts, record);
  }

  std::vector<std::string> topics() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.topic);
    return out;
  }
};

TEST(ToolSpec, NamesAreSnakeCaseIdentifiersThatShadowNothing) {
  EXPECT_EQ(invalid_tool_name("word_count"), "");
  EXPECT_NE(invalid_tool_name("WordCount"), "");
  EXPECT_NE(invalid_tool_name("2words"), "");
  EXPECT_NE(invalid_tool_name("ab"), "");
  EXPECT_NE(invalid_tool_name("import"), "");
  EXPECT_NE(invalid_tool_name("print"), "");
  EXPECT_NE(invalid_tool_name("rm -rf"), "");
  const auto taken = [](const std::string& n) { return n == "word_count" || n == "word_count_2"; };
  EXPECT_EQ(choose_tool_name("word_count", "", taken), "word_count_3");
  EXPECT_EQ(choose_tool_name("Word Count!", "", taken), "word_count_3");
  EXPECT_EQ(choose_tool_name("", "Sum the squares", taken), "sum_the_squares");
  EXPECT_EQ(choose_tool_name("print", "", taken), "tool_print");
}

TEST(ToolSpec, AFailedAttemptIsFedBackIntoTheNextPrompt) {
  const std::string first = forge_prompt("count words", "", {});
  EXPECT_TRUE(contains(first, "count words"));
  EXPECT_TRUE(contains(first, "Choose its name"));
  const std::string second =
      forge_prompt("count words", "word_count", {{1, "def word_count(t): pass", "t", "boom"}});
  EXPECT_TRUE(contains(second, "The tool is named word_count"));
  EXPECT_TRUE(contains(second, "Attempt 1 failed"));
  EXPECT_TRUE(contains(second, "boom"));
}

TEST(ToolForge, ABuggyFirstAttemptIsFixedByTheSecondAndTheToolIsCallable) {
  ForgeFixture f{word_count_answer(kBuggy), word_count_answer(kFixed)};
  const ForgeOutcome out = f.run_scripted();
  ASSERT_TRUE(out.created) << out.to_json().dump(2);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_EQ(out.name, "word_count");
  ASSERT_EQ(out.attempt_log.size(), 2u);
  EXPECT_FALSE(out.attempt_log[0]["ok"].get<bool>());
  EXPECT_TRUE(contains(out.attempt_log[0]["problem"], "test_counts_words failed"));
  // The second prompt carried the first attempt's failure.
  ASSERT_EQ(f.prompts.size(), 2u);
  EXPECT_TRUE(contains(f.prompts[1], "AssertionError"));
  EXPECT_TRUE(contains(f.prompts[1], kBuggy));

  const ToolVersion v = f.registry->get("word_count");
  EXPECT_EQ(v.version, 1);
  EXPECT_EQ(v.provenance.author, "BRICK");
  EXPECT_EQ(v.provenance.attempts, 2);
  EXPECT_TRUE(fs::exists(f.image.dir / "tools/word_count/tool.py"));
  EXPECT_TRUE(fs::exists(f.image.dir / "tools/word_count/versions/1/manifest.json"));
  const HarnessReport call = f.forge().call("word_count", {{"text", "one two  three"}});
  ASSERT_TRUE(call.ok) << call.problem;
  EXPECT_EQ(call.result, 3);
  EXPECT_EQ(f.topics(), std::vector<std::string>{motive::kToolCreated});
}

TEST(ToolForge, WhenEveryAttemptFailsNothingIsRegisteredAndTheFailureSaysWhy) {
  ForgeFixture f{word_count_answer(kBuggy)};
  const ForgeOutcome out = f.run_scripted(2);
  EXPECT_FALSE(out.created);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_TRUE(contains(out.reason, "no attempt passed its tests in 2 attempt(s)")) << out.reason;
  EXPECT_TRUE(contains(out.reason, "AssertionError")) << out.reason;
  EXPECT_TRUE(f.registry->list().empty());
  EXPECT_FALSE(fs::exists(f.image.dir / "tools/word_count"));
  ASSERT_EQ(f.topics(), std::vector<std::string>{motive::kToolFailed});
  std::lock_guard lock(f.mu);
  EXPECT_EQ(f.events[0].payload["attempts"], 2);
  EXPECT_EQ(f.events[0].payload["reasons"].size(), 2u);
  EXPECT_EQ(f.events[0].payload["capability"], "count the words in a text");
}

TEST(ToolForge, VacuousTestsAreRejectedBeforeAnythingRuns) {
  const std::string no_assert =
      "from tool import word_count\n\ndef test_runs():\n    word_count('a b')\n";
  const std::string constant_assert =
      "from tool import word_count\n\ndef test_runs():\n    word_count('a b')\n    assert True\n";
  ForgeFixture f{word_count_answer(kFixed, no_assert), word_count_answer(kFixed, constant_assert),
                 word_count_answer(kFixed)};
  const ForgeOutcome out = f.run_scripted();
  ASSERT_TRUE(out.created) << out.to_json().dump(2);
  EXPECT_EQ(out.attempts, 3);
  for (size_t i : {0U, 1U}) {
    EXPECT_TRUE(out.attempt_log[i]["rejected_statically"].get<bool>());
    EXPECT_TRUE(contains(out.attempt_log[i]["problem"], "vacuous tests rejected"));
  }
  EXPECT_TRUE(contains(out.attempt_log[0]["problem"], "no assert statement"));
  EXPECT_TRUE(contains(out.attempt_log[1]["problem"], "none of its asserts checks"));
}

// A tool whose code is wrong must not pass by printing, exiting early, writing fake results on
// whatever descriptor it can find, or returning an object that equals anything.
TEST(ToolForge, CodeCannotSpoofAPassingResult) {
  const auto with_code = [](const std::string& code) {
    json answer = word_count_answer(kFixed);
    answer["code"] = code;
    return answer;
  };
  const json prints_a_pass =
      word_count_answer("    print('TEST PASSED')\n    print('{\"ok\": true}')\n    return -1");
  const json exits_at_import =
      with_code("import sys\nsys.exit(0)\ndef word_count(text):\n    return -1\n");
  const json hard_exit =
      with_code("import os\nos._exit(0)\ndef word_count(text):\n    return -1\n");
  const json forges_reports = with_code(
      "import os\n"
      "FAKE = b'{\"test\": \"test_counts_words\", \"outcome\": \"passed\"}\\n'"
      " b'{\"test\": \"test_empty\", \"outcome\": \"passed\"}\\n{\"end\": true}\\n'\n"
      "def forge():\n"
      "    for fd in range(0, 64):\n"
      "        try:\n"
      "            os.write(fd, FAKE)\n"
      "        except OSError:\n"
      "            pass\n"
      "forge()\n"
      "class Anything:\n"
      "    def __eq__(self, other):\n"
      "        return True\n"
      "def word_count(text):\n"
      "    forge()\n"
      "    return Anything()\n");
  ForgeFixture f{prints_a_pass, exits_at_import, hard_exit, forges_reports};
  const ForgeOutcome out = f.run_scripted(4);
  EXPECT_FALSE(out.created) << out.to_json().dump(2);
  ASSERT_EQ(out.attempt_log.size(), 4u);
  EXPECT_TRUE(contains(out.attempt_log[0]["problem"], "tests failed"));
  EXPECT_TRUE(contains(out.attempt_log[1]["problem"], "SystemExit"));
  EXPECT_TRUE(contains(out.attempt_log[2]["problem"], "ended while importing tool.py"));
  EXPECT_FALSE(out.attempt_log[3]["ok"].get<bool>());
  EXPECT_TRUE(f.registry->list().empty());
}

TEST(ToolForge, TheRegistryOutlivesTheProcessAndChecksTheCodeBeforeEveryRun) {
  ForgeFixture f{word_count_answer(kFixed)};
  ASSERT_TRUE(f.run_scripted().created);
  f.registry.reset();  // a restart: a new connection, nothing cached
  f.registry = ToolRegistry::open(f.image.dir);
  ASSERT_EQ(f.registry->list().size(), 1u);
  EXPECT_TRUE(contains(f.registry->catalogue(), "word_count: def word_count(text: str) -> int"));
  const HarnessReport tests = f.forge().test("word_count");
  EXPECT_TRUE(tests.ok) << tests.problem;
  EXPECT_EQ(tests.tests.size(), 2u);

  std::ofstream(f.image.dir / "tools/word_count/versions/1/tool.py", std::ios::app)
      << "\nimport os\n";
  try {
    f.forge().call("word_count", {{"text", "a"}});
    FAIL() << "a changed tool.py ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_TRUE(contains(e.what(), "was changed outside A4PS")) << e.what();
  }
}

TEST(ToolForge, RollbackRestoresTheEarlierVersionAndRemoveHidesTheTool) {
  ForgeFixture f{word_count_answer(kFixed)};
  ASSERT_TRUE(f.run_scripted().created);
  ToolSpec v2 = spec_from_json(word_count_answer("    return 42"));
  v2.name = "word_count";
  EXPECT_EQ(f.registry->add(v2, {"count words", "BRICK", "", "", 1}).version, 2);
  EXPECT_EQ(f.forge().call("word_count", {{"text", "a b"}}).result, 42);
  EXPECT_EQ(f.registry->rollback("word_count").version, 1);
  EXPECT_EQ(f.forge().call("word_count", {{"text", "a b"}}).result, 2);
  EXPECT_EQ(read_file(f.image.dir / "tools/word_count/tool.py"),
            std::string("def word_count(text):\n") + kFixed + "\n");
  try {
    f.registry->rollback("word_count");
    FAIL() << "rolled back past version 1";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
  f.registry->remove("word_count");
  EXPECT_TRUE(f.registry->list().empty());
  EXPECT_TRUE(f.registry->taken("word_count"));
  EXPECT_THROW(f.forge().call("word_count", json::object()), Error);
  EXPECT_EQ(f.registry->rollback("word_count").version, 1);  // back, at the version it had
  EXPECT_EQ(f.registry->versions("word_count").size(), 2u);
}

// BRICK named his function "print": the tool becomes tool_print, and his code and tests are
// renamed with it, so the first attempt passes.
TEST(ToolForge, AnUnusableNameIsReplacedInTheCodeAndTests) {
  json answer = word_count_answer(kFixed);
  for (const char* key : {"code", "tests"}) {
    std::string text = answer[key];
    for (size_t at; (at = text.find("word_count")) != std::string::npos;) {
      text.replace(at, 10, "print");
    }
    answer[key] = text;
  }
  answer["name"] = "print";
  ForgeFixture f{answer};
  const ForgeOutcome out = f.run_scripted(1);
  ASSERT_TRUE(out.created) << out.to_json().dump(2);
  EXPECT_EQ(out.name, "tool_print");
  EXPECT_TRUE(contains(f.registry->describe("tool_print")["code"], "def tool_print(text):"));
}

// Twenty forges at once that all want the same name get twenty names and twenty working tools.
TEST(ToolForge, ConcurrentForgesNeverShareAName) {
  ForgeFixture f{word_count_answer(kFixed)};
  ToolForge forge = f.forge();
  std::vector<ForgeOutcome> outcomes(20);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    threads.emplace_back([&, i] {
      llm::ModelManager models{llm::ModelManagerOptions{}};
      models.register_remote("brick", std::make_unique<testing::ScriptedBackend>(
                                          [&f](const llm::ChatRequest& r) { return f.reply(r); }));
      persona::Speaker speaker(models, f.codex, 8192);
      persona::BrickAuthor author(speaker, nullptr);
      outcomes[i] = forge.forge({"count the words in a text", "", "", "", {}}, author);
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> names;
  for (const ForgeOutcome& out : outcomes) {
    EXPECT_TRUE(out.created) << out.to_json().dump(2);
    names.insert(out.name);
  }
  EXPECT_EQ(names.size(), outcomes.size());
  EXPECT_EQ(f.registry->list().size(), outcomes.size());
  // Each tool holds its own code: calling every one gives the same, right answer.
  for (const std::string& name : names) {
    EXPECT_EQ(forge.call(name, {{"text", "a b c"}}).result, 3) << name;
  }
}

TEST(ToolForge, RollbackToAVersionWhoseFilesChangedChangesNothing) {
  ForgeFixture f{word_count_answer(kFixed)};
  ASSERT_TRUE(f.run_scripted().created);
  ToolSpec v2 = spec_from_json(word_count_answer("    return 42"));
  v2.name = "word_count";
  f.registry->add(v2, {"count words", "BRICK", "", "", 1});
  std::ofstream(f.image.dir / "tools/word_count/versions/1/tool.py", std::ios::app) << "\n#\n";
  try {
    f.registry->rollback("word_count");
    FAIL() << "rolled back to a changed version";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
  }
  EXPECT_EQ(f.registry->get("word_count").version, 2);
  EXPECT_EQ(f.forge().call("word_count", {{"text", "a"}}).result, 42);
}

TEST(ToolForge, ARecordedForgeReplaysToTheSameTool) {
  const fs::path recording =
      fs::temp_directory_path() / ("a4ps-forge-recording-" + std::to_string(::getpid()) + ".jsonl");
  fs::remove(recording);
  std::string recorded_hash;
  {
    ForgeFixture f{word_count_answer(kBuggy), word_count_answer(kFixed)};
    ASSERT_TRUE(f.run_scripted(3, recording).created);
    recorded_hash = f.registry->get("word_count").code_sha256;
  }
  ForgeFixture replayed;
  const ForgeOutcome out =
      replayed.run_forge(std::make_unique<llm::ReplayBackend>("brick", recording));
  fs::remove(recording);
  ASSERT_TRUE(out.created) << out.to_json().dump(2);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_EQ(replayed.registry->get("word_count").code_sha256, recorded_hash);
}

TEST(ToolForge, WithoutASandboxTheForgeRefusesAndSaysWhy) {
  TempImage image;
  auto registry = ToolRegistry::open(image.dir);
  ToolForge forge(*registry, nullptr, "runsc: not installed", {}, 3, nullptr);
  EXPECT_FALSE(forge.available());
  try {
    forge.sandbox();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_TRUE(contains(e.what(), "runsc: not installed"));
  }
}

// The four personas scripted for a run in which BRICK requests a word counter: the forge makes
// it, the same run calls it. `failing_arguments` makes BRICK's arguments call throw that many
// times (a crash in the tool step after the forge).
struct RunFixture {
  ForgeFixture f{word_count_answer(kFixed)};
  llm::ModelManager models{llm::ModelManagerOptions{}};
  std::mutex mu;
  std::vector<std::string> seen;  // every prompt, guarded by mu
  int failing_arguments = 0;      // guarded by mu
  ToolForge forge = f.forge();
  persona::WorkflowDeps deps;
  std::unique_ptr<graph::Checkpointer> checkpointer = graph::Checkpointer::open_in_memory();

  RunFixture() {
    for (const char* model : {"alfred", "babs", "brick", "robin"}) {
      models.register_remote(model, std::make_unique<testing::ScriptedBackend>(
                                        [this](const llm::ChatRequest& r) { return reply(r); }));
    }
    deps.models = &models;
    deps.codex = &f.codex;
    deps.socratic.breadth = 1;
    deps.socratic.beam = 1;
    deps.socratic.max_depth = 1;
    deps.socratic.max_turns = 1;
    deps.bus = &f.bus;
    deps.forge = &forge;
  }

  std::string reply(const llm::ChatRequest& r) {
    const std::string p = prompt_of(r);
    {
      std::lock_guard lock(mu);
      seen.push_back(p);
      if (contains(p, "The tool you asked for exists now") && failing_arguments > 0) {
        --failing_arguments;
        throw std::runtime_error("BRICK's model crashed");
      }
    }
    if (contains(p, "Write a Python tool")) return f.reply(r);
    if (contains(p, "Decide whether a tool would help")) {
      return json{{"action", "request"},
                  {"tool", "word_count"},
                  {"arguments", json::object()},
                  {"capability", "count words in a text"}}
          .dump();
    }
    if (contains(p, "The tool you asked for exists now")) {
      return R"({"arguments": {"text": "one two three"}})";
    }
    if (r.json_schema) {
      return persona_of(r) == "ROBIN" ? R"({"score": 70, "critique": "fine"})"
                                      : R"({"score": 10, "reason": "agree"})";
    }
    return persona_of(r) + " speaks.";
  }

  graph::RunResult run() {
    return graph::start_run(persona::workflow_graph(deps), *checkpointer, "t",
                            persona::workflow_input("How many words are in 'one two three'?", {}));
  }

  long prompts_with(const std::string& a, const std::string& b = "") {
    std::lock_guard lock(mu);
    return std::count_if(seen.begin(), seen.end(),
                         [&](const std::string& p) { return contains(p, a) && contains(p, b); });
  }
};

void expect_forged_and_called(const graph::RunResult& r) {
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  const json& tools = r.state["tools"];
  ASSERT_EQ(tools.size(), 2u) << tools.dump(2);
  EXPECT_EQ(tools[0]["kind"], "forge");
  EXPECT_TRUE(tools[0]["created"].get<bool>());
  EXPECT_EQ(tools[1]["kind"], "call");
  EXPECT_EQ(tools[1]["tool"], "word_count");
  EXPECT_TRUE(tools[1]["ok"].get<bool>()) << tools[1].dump();
  EXPECT_EQ(tools[1]["result"], 3);
  EXPECT_EQ(r.state["dialogue"][0]["persona"], "TOOL");
  EXPECT_TRUE(contains(r.state["dialogue"][0]["text"], "returned: 3"));
}

// BRICK requests a word counter mid-run; the forge makes it; the same run calls it and the
// result reaches BRICK's proposals, ALFRED's answer and the dialogue.
TEST(ToolForge, AToolRequestedInARunIsForgedAndUsedByThatRun) {
  RunFixture t;
  const graph::RunResult r = t.run();
  expect_forged_and_called(r);
  const std::string result = "Tool word_count({\"text\":\"one two three\"}) returned: 3";
  EXPECT_GT(t.prompts_with("Propose candidate thought"), 0);
  EXPECT_EQ(t.prompts_with("Propose candidate thought", result),
            t.prompts_with("Propose candidate thought"));
  EXPECT_EQ(t.prompts_with("Write the final answer", result), 1);
  EXPECT_EQ(t.f.topics(), std::vector<std::string>{motive::kToolCreated});
  EXPECT_EQ(t.f.registry->get("word_count").provenance.run_id, r.run_id);
}

// The tool step fails after the forge; the resumed step replays the forge from the journal:
// BRICK writes no second tool, nothing is registered or published twice.
TEST(ToolForge, AResumedToolStepForgesNothingTwice) {
  RunFixture t;
  t.failing_arguments = 1;
  const graph::RunResult failed = t.run();
  ASSERT_EQ(failed.status, graph::RunStatus::kError);
  EXPECT_EQ(failed.failed_node, "brick_tools");
  EXPECT_EQ(t.prompts_with("Write a Python tool"), 1);
  const graph::RunResult done =
      graph::resume_run(persona::workflow_graph(t.deps), *t.checkpointer, failed.thread_id);
  expect_forged_and_called(done);
  EXPECT_EQ(t.prompts_with("Write a Python tool"), 1);
  EXPECT_EQ(t.prompts_with("The tool you asked for exists now"), 2);  // failed, then again
  EXPECT_EQ(t.f.registry->versions("word_count").size(), 1u);
  EXPECT_EQ(t.f.topics(), std::vector<std::string>{motive::kToolCreated});
}

// A capability goal's run (persona/capability.h) with BRICK scripted by `f`: one brick_forge
// step, told what went wrong before.
graph::RunResult run_capability(ForgeFixture& f, const std::string& earlier_failure) {
  llm::ModelManager models{llm::ModelManagerOptions{}};
  models.register_remote("brick", std::make_unique<testing::ScriptedBackend>(
                                      [&f](const llm::ChatRequest& r) { return f.reply(r); }));
  ToolForge forge = f.forge();
  persona::WorkflowDeps deps;
  deps.models = &models;
  deps.codex = &f.codex;
  deps.bus = &f.bus;
  deps.forge = &forge;
  const auto checkpointer = graph::Checkpointer::open_in_memory();
  const std::string task =
      "Build a tool for this capability: count the words in a text\n"
      "Earlier attempts failed because:\n- " +
      earlier_failure;
  return graph::start_run(persona::capability_graph(deps), *checkpointer, "goal-1-1",
                          persona::capability_input(task, "count the words", "word_count"));
}

TEST(CapabilityGoal, BrickForgesAgainKnowingWhyTheEarlierAttemptsFailed) {
  ForgeFixture f{word_count_answer(kFixed)};
  const graph::RunResult r = run_capability(f, "it counted the spaces, not the words");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_TRUE(r.state["forge"]["created"].get<bool>()) << r.state["forge"].dump(2);
  EXPECT_TRUE(contains(r.state["answer"].get<std::string>(), "made the tool word_count"));
  ASSERT_EQ(f.prompts.size(), 1U);
  EXPECT_TRUE(contains(f.prompts[0], "it counted the spaces, not the words"));
  EXPECT_EQ(f.registry->get("word_count").provenance.run_id, r.run_id);
  EXPECT_EQ(f.topics(), std::vector<std::string>{motive::kToolCreated});
}

TEST(CapabilityGoal, AForgeThatGivesUpAgainSaysWhyAndPublishesTheFailure) {
  ForgeFixture f{word_count_answer(kBuggy)};
  const graph::RunResult r = run_capability(f, "it crashed");
  ASSERT_EQ(r.status, graph::RunStatus::kDone) << r.error;
  EXPECT_FALSE(r.state["forge"]["created"].get<bool>());
  EXPECT_TRUE(contains(r.state["answer"].get<std::string>(), "could not make the tool"));
  EXPECT_EQ(f.topics(), std::vector<std::string>{motive::kToolFailed});
  EXPECT_TRUE(f.registry->list().empty());
}

}  // namespace
}  // namespace a4ps::forge
