#include "llm/llama_backend.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "llm/json_schema.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

class LlamaBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    chat_ = LlamaBackend::create({.path = testing::test_model("tiny"), .n_ctx = 512});
  }
  static void TearDownTestSuite() { chat_.reset(); }

  static ChatRequest request(uint32_t seed, int32_t max_tokens = 24) {
    ChatRequest r;
    r.messages = {{Role::kSystem, "You are BRICK."}, {Role::kUser, "Plan the onboarding."}};
    r.sampling.seed = seed;
    r.max_tokens = max_tokens;
    return r;
  }

  static std::unique_ptr<LlamaBackend> chat_;
};
std::unique_ptr<LlamaBackend> LlamaBackendTest::chat_;

TEST_F(LlamaBackendTest, SameSeedGivesTheSameText) {
  const ChatResult a = chat_->chat(request(7));
  const ChatResult b = chat_->chat(request(7));
  EXPECT_FALSE(a.text.empty());
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.timings.n_generated_tokens, b.timings.n_generated_tokens);
}

TEST_F(LlamaBackendTest, DifferentSeedsGiveDifferentTexts) {
  EXPECT_NE(chat_->chat(request(1, 32)).text, chat_->chat(request(2, 32)).text);
}

TEST_F(LlamaBackendTest, StreamedPiecesConcatenateToTheResult) {
  ChatRequest streaming = request(11, 48);
  std::string streamed;
  int pieces = 0;
  streaming.on_token = [&](std::string_view piece) {
    streamed += piece;
    ++pieces;
  };
  const ChatResult with_stream = chat_->chat(streaming);
  const ChatResult without = chat_->chat(request(11, 48));
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(streamed, with_stream.text);
  EXPECT_EQ(streamed, without.text);
}

TEST_F(LlamaBackendTest, MaxTokensIsHonoured) {
  const ChatResult r = chat_->chat(request(3, 5));
  EXPECT_LE(r.timings.n_generated_tokens, 5);
  if (r.timings.n_generated_tokens == 5) {
    EXPECT_EQ(r.stop_reason, StopReason::kMaxTokens);
  }
}

TEST_F(LlamaBackendTest, IgnoringEndOfGenerationProducesExactlyMaxTokens) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    ChatRequest r = request(seed, 30);
    r.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
    const ChatResult result = chat_->chat(r);
    EXPECT_EQ(result.timings.n_generated_tokens, 30) << seed;
    EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
  }
}

TEST_F(LlamaBackendTest, CancellationStopsWithinOneToken) {
  ChatRequest r = request(5, 400);
  std::stop_source stop;
  r.cancel = stop.get_token();
  int pieces_before_cancel = -1;
  int pieces = 0;
  r.on_token = [&](std::string_view) {
    if (++pieces == 3) {
      stop.request_stop();
      pieces_before_cancel = pieces;
    }
  };
  const ChatResult result = chat_->chat(r);
  ASSERT_EQ(pieces_before_cancel, 3);
  EXPECT_EQ(result.stop_reason, StopReason::kCancelled);
  EXPECT_EQ(pieces, 3);  // nothing streamed after the cancel
  // A piece can hold back at most a few bytes of one UTF-8 character: three pieces mean at
  // most a handful of tokens, never the 400 asked for.
  EXPECT_LE(result.timings.n_generated_tokens, pieces_before_cancel + 3);
}

TEST_F(LlamaBackendTest, CancelledBeforeStartGeneratesNothing) {
  ChatRequest r = request(5, 50);
  std::stop_source stop;
  stop.request_stop();
  r.cancel = stop.get_token();
  const ChatResult result = chat_->chat(r);
  EXPECT_EQ(result.stop_reason, StopReason::kCancelled);
  EXPECT_EQ(result.timings.n_generated_tokens, 0);
}

TEST_F(LlamaBackendTest, StopStringEndsGenerationAndIsNotInTheText) {
  const ChatResult free_run = chat_->chat(request(9, 40));
  ASSERT_GE(free_run.text.size(), 12u);
  ChatRequest r = request(9, 40);
  const std::string stop = free_run.text.substr(6, 4);
  r.stop = {stop};
  const ChatResult stopped = chat_->chat(r);
  EXPECT_EQ(stopped.stop_reason, StopReason::kStopString);
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(stop)));
}

TEST_F(LlamaBackendTest, PromptLongerThanTheContextLosesItsMiddleAndStillAnswers) {
  ChatRequest r = request(1, 32);
  std::string long_prompt = "Task: onboarding.\n";
  for (int i = 0; i < 2000; ++i) long_prompt += "protocol " + std::to_string(i) + " ";
  long_prompt += "\nAnswer now.";
  r.messages.back().content = long_prompt;
  const ChatResult result = chat_->chat(r);
  EXPECT_GT(result.timings.n_generated_tokens, 0);
  // The answer kept its room: the prompt and max_tokens fit the context of 512.
  EXPECT_LE(result.timings.n_prompt_tokens + 32, 512);
  EXPECT_GT(result.timings.n_prompt_tokens, 100) << "cut to its room, not to nothing";
}

TEST_F(LlamaBackendTest, SystemPromptThatAloneFillsTheContextIsResourceExhausted) {
  ChatRequest r = request(1);
  std::string long_system;
  for (int i = 0; i < 400; ++i) long_system += "onboarding protocol ";
  r.messages.front().content = long_system;
  r.messages.back().content = "hi";
  try {
    chat_->chat(r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("context holds 512"), std::string::npos) << e.what();
  }
  // The backend is still usable afterwards.
  EXPECT_FALSE(chat_->chat(request(1, 4)).text.empty());
}

TEST_F(LlamaBackendTest, InvalidSchemaIsRejectedBeforeInference) {
  ChatRequest r = request(1);
  r.json_schema = nlohmann::json{{"type", 5}};
  EXPECT_THROW(chat_->chat(r), Error);
  r.json_schema = nlohmann::json::array();
  EXPECT_THROW(chat_->chat(r), Error);
}

TEST_F(LlamaBackendTest, BadSamplingAndEmptyConversationAreInvalidArguments) {
  ChatRequest r = request(1);
  r.sampling.top_p = 0.0f;
  EXPECT_THROW(chat_->chat(r), Error);
  r = request(1);
  r.messages.clear();
  EXPECT_THROW(chat_->chat(r), Error);
}

TEST_F(LlamaBackendTest, RendersThroughTheModelsChatTemplate) {
  const std::string prompt = chat_->render_prompt({{Role::kUser, "hi"}});
  EXPECT_NE(prompt.find("<|user|>"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("<|assistant|>"), std::string::npos) << prompt;
  EXPECT_GT(chat_->count_tokens("hello world"), 0);
}

TEST_F(LlamaBackendTest, SchemaConstrainedOutputValidatesForFiftySeeds) {
  const nlohmann::json schema_doc = nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "route": {"type": "string", "enum": ["research", "reason"]},
      "plan": {"type": "string", "maxLength": 16},
      "percent": {"type": "integer", "minimum": 0, "maximum": 100},
      "depth": {"type": "integer", "minimum": 0, "maximum": 9},
      "urgent": {"type": "boolean"},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3}
    },
    "required": ["route", "plan", "percent", "depth", "urgent", "tags"],
    "additionalProperties": false
  })");
  const JsonSchema schema = JsonSchema::create(schema_doc);
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    ChatRequest r = request(seed, 400);
    r.json_schema = schema_doc;
    const ChatResult result = chat_->chat(r);
    const auto parsed = nlohmann::json::parse(result.text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << "seed " << seed << ": " << result.text;
    std::string why;
    EXPECT_TRUE(schema.validate(parsed, &why)) << "seed " << seed << ": " << why;
  }
}

TEST_F(LlamaBackendTest, ChatModelRefusesToEmbed) {
  EXPECT_THROW(chat_->embed("text"), Error);
}

TEST(LlamaEmbedding, HasTheModelsDimensionAndUnitNorm) {
  auto embedder = LlamaBackend::create(
      {.path = testing::test_model("embed"), .n_ctx = 256, .purpose = ModelPurpose::kEmbed});
  const std::vector<float> a = embedder->embed("search_document: the community atlas");
  ASSERT_EQ(a.size(), static_cast<size_t>(embedder->embedding_size()));
  EXPECT_EQ(embedder->embedding_size(), 64);
  double norm = 0;
  for (const float v : a) norm += static_cast<double>(v) * static_cast<double>(v);
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);
  EXPECT_EQ(embedder->embed("search_document: the community atlas"), a);
  EXPECT_NE(embedder->embed("a different text entirely"), a);
  EXPECT_THROW(embedder->chat({.messages = {{Role::kUser, "hi"}}}), Error);
}

TEST(LlamaEmbedding, TextLongerThanTheContextIsEmbeddedInWindows) {
  auto embedder = LlamaBackend::create(
      {.path = testing::test_model("embed"), .n_ctx = 64, .purpose = ModelPurpose::kEmbed});
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the community atlas lists food banks. ";
  const std::vector<float> v = embedder->embed(text);
  ASSERT_EQ(v.size(), 64u);
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  EXPECT_NEAR(norm, 1.0, 1e-4);
  // A text that fits is embedded as one window, exactly as before.
  const std::string shorter = "the community atlas lists food banks.";
  EXPECT_EQ(embedder->embed(shorter), embedder->embed(shorter));
  // The windows' mean is close to, not equal to, the embedding of one window of the text.
  EXPECT_NE(v, embedder->embed(text.substr(0, 100)));
}

}  // namespace
}  // namespace a4ps::llm

namespace a4ps::llm {
namespace {

TEST(LlamaLora, AdapterChangesTheOutputAndRemovingItRestoresItExactly) {
  auto backend = LlamaBackend::create({.path = testing::test_model("tiny"), .n_ctx = 512});
  const auto adapter = testing::scratch_dir() / "lora.gguf";
  write_test_lora(TestModelSpec{}, /*seed=*/9, /*rank=*/4, adapter);
  ChatRequest r;
  r.messages = {{Role::kUser, "Plan the onboarding."}};
  r.sampling.temperature = 0.0f;
  r.max_tokens = 24;
  const std::string base = backend->chat(r).text;
  r.adapters = {{adapter.string(), 1.0f}};
  const std::string adapted = backend->chat(r).text;
  r.adapters.clear();
  const std::string restored = backend->chat(r).text;
  EXPECT_NE(adapted, base);
  EXPECT_EQ(restored, base);
}

TEST(LlamaLora, AdapterForAnotherModelIsRejectedAndTheModelStaysUsable) {
  auto backend = LlamaBackend::create({.path = testing::test_model("tiny"), .n_ctx = 512});
  TestModelSpec other;
  other.n_embd = 96;
  other.n_head = 6;
  other.n_head_kv = 6;
  const auto adapter = testing::scratch_dir() / "other-lora.gguf";
  write_test_lora(other, 9, 4, adapter);
  ChatRequest r;
  r.messages = {{Role::kUser, "hi"}};
  r.max_tokens = 4;
  r.adapters = {{adapter.string(), 1.0f}};
  try {
    backend->chat(r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("does not match the base model"), std::string::npos)
        << e.what();
  }
  r.adapters = {{testing::test_model("tiny2").string(), 1.0f}};  // a model, not an adapter
  EXPECT_THROW(backend->chat(r), Error);
  r.adapters.clear();
  EXPECT_NO_THROW(backend->chat(r));
}

}  // namespace
}  // namespace a4ps::llm
