#include "llm/recording.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "llm/llama_backend.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

ChatRequest request(uint32_t seed) {
  ChatRequest r;
  r.messages = {{Role::kSystem, "You are BRICK."}, {Role::kUser, "Plan the onboarding."}};
  r.sampling.seed = seed;
  r.max_tokens = 12;
  return r;
}

TEST(Recording, ReplayAnswersExactlyWhatWasRecorded) {
  const auto file = testing::scratch_dir() / "record.jsonl";
  std::filesystem::remove(file);
  RecordingBackend recorder(
      LlamaBackend::create({.path = testing::test_model("tiny"), .n_ctx = 512}), "brick", file);
  const ChatResult a = recorder.chat(request(1));
  const ChatResult b = recorder.chat(request(2));

  ReplayBackend replay("brick", file);
  EXPECT_EQ(replay.recorded_responses(), 2u);
  std::string streamed;
  ChatRequest again = request(2);
  again.on_token = [&](std::string_view piece) { streamed += piece; };
  EXPECT_EQ(replay.chat(again).text, b.text);
  EXPECT_EQ(streamed, b.text);
  EXPECT_EQ(replay.chat(request(1)).text, a.text);
  EXPECT_EQ(replay.context_size(), 512);
  // Another model's lines are not this backend's.
  EXPECT_EQ(ReplayBackend("robin", file).recorded_responses(), 0u);
}

TEST(Recording, AMissNamesTheRequest) {
  const auto file = testing::write_scratch_file("empty.jsonl", "");
  ReplayBackend replay("brick", file);
  try {
    replay.chat(request(3));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("Plan the onboarding."), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("model brick"), std::string::npos);
  }
}

TEST(Recording, HandWrittenScriptsNeedNoHash) {
  nlohmann::json recorded = request_to_json("robin", request(9));
  recorded["sampling"]["temperature"] = 0.8;  // as a person would write it
  nlohmann::json line = {
      {"request", recorded},
      {"response", {{"text", "{\"score\": 0.9}"}, {"stop_reason", "end_of_generation"}}}};
  const auto file = testing::write_scratch_file("script.jsonl", line.dump() + "\n");
  ReplayBackend replay("robin", file);
  EXPECT_EQ(replay.chat(request(9)).text, "{\"score\": 0.9}");
}

TEST(Recording, CorruptLineIsDataLossWithItsNumber) {
  const auto file = testing::write_scratch_file("bad.jsonl", "\n{\"request\": 3}\n");
  try {
    ReplayBackend("brick", file);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
}

TEST(Recording, EmbeddingsReplayToo) {
  const auto file = testing::scratch_dir() / "embed.jsonl";
  std::filesystem::remove(file);
  RecordingBackend recorder(
      LlamaBackend::create(
          {.path = testing::test_model("embed"), .n_ctx = 256, .purpose = ModelPurpose::kEmbed}),
      "embedder", file);
  const std::vector<float> v = recorder.embed("community atlas");
  ReplayBackend replay("embedder", file);
  EXPECT_EQ(replay.embed("community atlas"), v);
  EXPECT_EQ(replay.embedding_size(), 64);
  EXPECT_THROW(replay.embed("something else"), Error);
}

}  // namespace
}  // namespace a4ps::llm
