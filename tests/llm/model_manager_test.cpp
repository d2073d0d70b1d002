#include "llm/model_manager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "core/error.h"
#include "llm/ggml_log.h"
#include "llm/gguf_info.h"
#include "llm/recording.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kContext = 512;

uint64_t model_cost() {
  return inspect_gguf(testing::seeded_model(1)).estimate_memory_bytes(kContext);
}

ModelManagerOptions options_for(uint64_t budget, BudgetPolicy policy) {
  ModelManagerOptions o;
  o.budget_bytes = budget;
  o.policy = policy;
  o.load_defaults.n_ctx = kContext;
  o.load_defaults.n_threads = 1;
  return o;
}

void register_four(ModelManager& m) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    m.register_model("m" + std::to_string(seed), testing::seeded_model(seed));
  }
}

ChatRequest request(int32_t max_tokens = 8, const std::string& system = "You are BRICK.") {
  ChatRequest r;
  r.messages = {{Role::kSystem, system}, {Role::kUser, "Plan the onboarding."}};
  r.sampling.seed = 7;
  r.max_tokens = max_tokens;
  return r;
}

TEST(ModelManager, FitKeepsEveryModelThatFitsAndNeverReloads) {
  ModelManager m(options_for(4 * model_cost() + 1, BudgetPolicy::kFit));
  register_four(m);
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (const char* name : {"m1", "m2", "m3", "m4"}) m.chat(name, request(2));
  }
  for (const auto& [name, s] : m.stats()) {
    EXPECT_EQ(s.loads, 1u) << name;
    EXPECT_EQ(s.evictions, 0u) << name;
    EXPECT_EQ(s.requests, 3u) << name;
    EXPECT_TRUE(s.resident) << name;
  }
  EXPECT_EQ(m.resident_bytes(), 4 * model_cost());
}

TEST(ModelManager, EvictsLeastRecentlyUsedAsTheResidencyPredicts) {
  const uint64_t budget = 2 * model_cost() + 1;
  ModelManager m(options_for(budget, BudgetPolicy::kFit));
  register_four(m);
  const std::vector<std::string> sequence = {"m1", "m2", "m1", "m3", "m4", "m1", "m2"};
  for (const std::string& name : sequence) m.chat(name, request(2));
  uint64_t loads = 0;
  for (const auto& [name, s] : m.stats()) loads += s.loads;
  std::map<std::string, uint64_t> costs;
  for (const char* name : {"m1", "m2", "m3", "m4"}) costs[name] = model_cost();
  EXPECT_EQ(loads, Residency::count_loads(sequence, costs, budget, BudgetPolicy::kFit));
  EXPECT_LE(m.peak_resident_bytes(), budget);
}

TEST(ModelManager, SequentialUnloadsAfterEveryCall) {
  ModelManager m(options_for(8 * model_cost(), BudgetPolicy::kSequential));
  register_four(m);
  m.chat("m1", request(2));
  m.chat("m2", request(2));
  m.chat("m1", request(2));
  EXPECT_EQ(m.resident_bytes(), 0u);
  EXPECT_EQ(m.stats().at("m1").loads, 2u);
}

TEST(ModelManager, AccountingStaysWithinTheBudgetUnderConcurrentLoad) {
  const uint64_t budget = 2 * model_cost() + 1;
  ModelManager m(options_for(budget, BudgetPolicy::kFit));
  register_four(m);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const std::string name = "m" + std::to_string(1 + (t + i) % 4);
        if (!m.chat(name, request(2)).text.empty()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 24);
  EXPECT_LE(m.peak_resident_bytes(), budget);
  EXPECT_LE(m.resident_bytes(), budget);
  EXPECT_EQ(m.queue_depth(), 0u);
}

TEST(ModelManager, GivesTheSameTextAsTheBackendDirectly) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  m.register_model("m1", testing::seeded_model(1));
  auto direct =
      LlamaBackend::create({.path = testing::seeded_model(1), .n_ctx = kContext, .n_threads = 1});
  EXPECT_EQ(m.chat("m1", request(16)).text, direct->chat(request(16)).text);
}

TEST(ModelManager, PrefixCacheRestoresThePersonaPromptAndChangesNothing) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  m.register_model("m1", testing::seeded_model(1));
  const std::string codex(600, 'x');
  const ChatResult first = m.chat("m1", request(16, codex));
  const ChatResult second = m.chat("m1", request(16, codex));
  EXPECT_EQ(first.timings.n_cached_tokens, 0);
  EXPECT_GT(second.timings.n_cached_tokens, 0);
  EXPECT_EQ(first.text, second.text);
  EXPECT_EQ(m.stats().at("m1").prefix_cache_hits, 1u);
  // Another system prompt is another key: a miss.
  EXPECT_EQ(m.chat("m1", request(4, "You are ROBIN.")).timings.n_cached_tokens, 0);
}

TEST(ModelManager, PrefixCacheSurvivesEviction) {
  ModelManager m(options_for(model_cost() + 1, BudgetPolicy::kFit));
  m.register_model("m1", testing::seeded_model(1));
  m.register_model("m2", testing::seeded_model(2));
  const ChatResult first = m.chat("m1", request(8));
  m.chat("m2", request(2));  // evicts m1
  const ChatResult again = m.chat("m1", request(8));
  EXPECT_EQ(m.stats().at("m1").loads, 2u);
  EXPECT_GT(again.timings.n_cached_tokens, 0);
  EXPECT_EQ(first.text, again.text);
}

TEST(ModelManager, ModelLargerThanTheBudgetIsRefusedWithBothSizes) {
  ModelManager m(options_for(model_cost() / 2, BudgetPolicy::kFit));
  try {
    m.register_model("big", testing::seeded_model(1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("more than the whole budget"), std::string::npos);
  }
}

TEST(ModelManager, UnknownModelIsNotFound) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  try {
    m.chat("nobody", request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST(ModelManager, RequestCancelledWhileQueuedLeavesOthersUnaffected) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  register_four(m);
  m.chat("m1", request(1));  // loaded
  ChatRequest long_request = request(3000);
  long_request.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  std::stop_source stop_long;
  long_request.cancel = stop_long.get_token();
  std::thread busy([&] { m.chat("m1", long_request); });
  while (m.stats().at("m1").requests == 1 && m.queue_depth() > 0) std::this_thread::yield();
  std::this_thread::sleep_for(50ms);

  std::stop_source stop;
  ChatRequest queued = request(4);
  queued.cancel = stop.get_token();
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  try {
    m.chat("m2", queued);
    ADD_FAILURE() << "expected Cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  }
  canceller.join();
  EXPECT_EQ(m.stats().at("m2").loads, 0u);  // never ran
  stop_long.request_stop();
  busy.join();
  EXPECT_FALSE(m.chat("m3", request(2)).text.empty());
}

TEST(ModelManager, DeadlineDuringGenerationIsDeadlineExceeded) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  m.register_model("m1", testing::seeded_model(1));
  ChatRequest r = request(100000);
  r.max_tokens = 3000;
  r.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  try {
    m.chat("m1", r, ModelManager::Clock::now() + 100ms);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
  }
  EXPECT_FALSE(m.chat("m1", request(2)).text.empty());
}

TEST(ModelManager, CallTimeoutStopsALocalCallThatRunsTooLong) {
  ModelManagerOptions o = options_for(4 * model_cost(), BudgetPolicy::kFit);
  o.call_timeout = 100ms;
  ModelManager m(o);
  m.register_model("m1", testing::seeded_model(1));
  ChatRequest r = request(3000);
  r.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  try {
    m.chat("m1", r);
    FAIL() << "3000 tokens in 100 ms";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_NE(std::string(e.what()).find("call_timeout_seconds"), std::string::npos) << e.what();
  }
  // The model stays usable, and a call within its time is unaffected.
  EXPECT_FALSE(m.chat("m1", request(2)).text.empty());
}

// A remote backend that never answers until it is cancelled, as a stuck server does.
class SilentBackend final : public Backend {
 public:
  ChatResult chat(const ChatRequest& request) override {
    while (!request.cancel.stop_requested()) std::this_thread::sleep_for(1ms);
    ChatResult r;
    r.stop_reason = StopReason::kCancelled;
    return r;
  }
  std::vector<float> embed(std::string_view) override { return {1.0f}; }
  int32_t embedding_size() const override { return 1; }
  int32_t count_tokens(std::string_view) const override { return 1; }
  int32_t context_size() const override { return 0; }
};

TEST(ModelManager, CallTimeoutStopsARemoteCallThatNeverAnswers) {
  ModelManagerOptions o;
  o.call_timeout = 50ms;
  ModelManager m(o);
  m.register_remote("silent", std::make_unique<SilentBackend>());
  try {
    m.chat("silent", request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
  }
}

TEST(ModelManager, KeepAliveUnloadsIdleModels) {
  ModelManagerOptions o = options_for(4 * model_cost(), BudgetPolicy::kFit);
  o.keep_alive = 100ms;
  ModelManager m(o);
  m.register_model("m1", testing::seeded_model(1));
  m.chat("m1", request(1));
  for (int i = 0; i < 100 && m.resident_bytes() != 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(m.resident_bytes(), 0u);
  EXPECT_FALSE(m.stats().at("m1").resident);
}

TEST(BudgetPolicy, ParsesItsNames) {
  EXPECT_EQ(parse_budget_policy("fit"), BudgetPolicy::kFit);
  EXPECT_EQ(parse_budget_policy("sequential"), BudgetPolicy::kSequential);
  EXPECT_THROW(parse_budget_policy("lru"), Error);
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerMemory, RecordsWhatLlamaCppAllocatedAndTheEstimatesError) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  m.register_model("m1", testing::seeded_model(1));
  m.chat("m1", request(1));
  const ModelStats s = m.stats().at("m1");
  EXPECT_GT(s.actual_bytes, s.weights_bytes);  // weights plus KV, output and compute buffers
  EXPECT_LT(std::abs(s.estimate_error()), 1.0) << s.estimated_bytes << " vs " << s.actual_bytes;
}

TEST(AllocationLog, ParsesLlamaCppBufferLines) {
  EXPECT_EQ(parse_buffer_size_line("llama_kv_cache:        CPU KV buffer size =     8.00 MiB"),
            8ull << 20);
  EXPECT_EQ(parse_buffer_size_line("~llama_context: CPU compute buffer size is  63.6 MiB"), 0u);
  EXPECT_EQ(parse_buffer_size_line("unrelated"), 0u);
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerScheduling, QueuedRequestsForOneUnloadedModelLoadItOnce) {
  ModelManager m(options_for(8 * model_cost(), BudgetPolicy::kSequential));
  register_four(m);
  // m2 keeps the worker busy until the three requests for m1 are queued behind it.
  ChatRequest busy = request(3000);
  busy.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  std::stop_source release;
  busy.cancel = release.get_token();
  std::thread occupier([&] { m.chat("m2", busy); });
  while (m.stats().at("m2").loads == 0) std::this_thread::sleep_for(5ms);
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) waiters.emplace_back([&] { m.chat("m1", request(2)); });
  while (m.queue_depth() < 3) std::this_thread::sleep_for(5ms);
  release.request_stop();
  occupier.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(m.stats().at("m1").loads, 1u);
  EXPECT_EQ(m.stats().at("m1").requests, 3u);
  EXPECT_EQ(m.resident_bytes(), 0u);  // sequential: unloaded after the last of them
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerRemote, ServesARemoteModelOutsideTheBudgetAndRecordsEverything) {
  const auto recording = testing::scratch_dir() / "manager.jsonl";
  std::filesystem::remove(recording);
  ModelManagerOptions o = options_for(4 * model_cost(), BudgetPolicy::kFit);
  o.record_path = recording;
  {
    ModelManager m(o);
    m.register_model("brick", testing::seeded_model(1));
    // A scripted "remote" model: the replay of a hand-written recording.
    const nlohmann::json line = {{"request", request_to_json("robin", request(4))},
                                 {"response", {{"text", "a synthesis"}}}};
    const auto script = testing::write_scratch_file("robin.jsonl", line.dump() + "\n");
    m.register_remote("robin", std::make_unique<ReplayBackend>("robin", script));
    const std::string brick = m.chat("brick", request(4)).text;
    EXPECT_EQ(m.chat("robin", request(4)).text, "a synthesis");
    EXPECT_EQ(m.stats().at("robin").requests, 1u);
    EXPECT_EQ(m.stats().at("robin").loads, 0u);
    EXPECT_EQ(m.resident_bytes(), model_cost());  // the remote model costs nothing here
    // Everything the manager answered can be replayed.
    ReplayBackend replay_brick("brick", recording);
    EXPECT_EQ(replay_brick.chat(request(4)).text, brick);
    EXPECT_EQ(ReplayBackend("robin", recording).chat(request(4)).text, "a synthesis");
  }
}

TEST(ModelManagerRemote, DuplicateNamesAreRefused) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));
  m.register_model("brick", testing::seeded_model(1));
  const auto script = testing::write_scratch_file("none.jsonl", "");
  EXPECT_THROW(m.register_remote("brick", std::make_unique<ReplayBackend>("brick", script)), Error);
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerKeepAlive, APerModelKeepAliveOverridesTheDefault) {
  ModelManager m(options_for(4 * model_cost(), BudgetPolicy::kFit));  // default: keep
  m.register_model("brief", testing::seeded_model(1), ModelPurpose::kGenerate, 100ms);
  m.register_model("kept", testing::seeded_model(2));
  m.chat("brief", request(1));
  m.chat("kept", request(1));
  for (int i = 0; i < 100 && m.stats().at("brief").resident; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(m.stats().at("brief").resident);
  EXPECT_TRUE(m.stats().at("kept").resident);
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerPrefixCache, PersistedStatesServeTheNextProcess) {
  const auto dir = testing::scratch_dir() / "prefix-states";
  ModelManagerOptions o = options_for(4 * model_cost(), BudgetPolicy::kFit);
  o.prefix_cache_dir = dir;
  std::string first_text;
  {
    ModelManager m(o);
    m.register_model("m1", testing::seeded_model(1));
    const ChatResult first = m.chat("m1", request(8));
    EXPECT_EQ(first.timings.n_cached_tokens, 0);
    first_text = first.text;
  }
  ModelManager again(o);  // a new "process": empty RAM cache
  again.register_model("m1", testing::seeded_model(1));
  const ChatResult restored = again.chat("m1", request(8));
  EXPECT_GT(restored.timings.n_cached_tokens, 0);
  EXPECT_EQ(restored.text, first_text);
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(ModelManagerCancel, CancelledWhileLoadingLeavesTheAccountingCorrect) {
  std::stop_source stop;
  ModelManagerOptions o = options_for(4 * model_cost(), BudgetPolicy::kFit);
  o.on_load_progress = [&stop](const std::string&, float) { stop.request_stop(); };
  ModelManager m(o);
  m.register_model("m1", testing::seeded_model(1));
  ChatRequest r = request(4);
  r.cancel = stop.get_token();
  try {
    m.chat("m1", r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled) << e.what();
  }
  EXPECT_EQ(m.resident_bytes(), 0u);
  EXPECT_FALSE(m.stats().at("m1").resident);
  EXPECT_FALSE(m.chat("m1", request(2)).text.empty());  // the next request loads it fine
}

}  // namespace
}  // namespace a4ps::llm
