#include "llm/test_model.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "llm/gguf_info.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(TestModel, SameSeedGivesAByteIdenticalFile) {
  TestModelSpec spec;
  spec.seed = 42;
  const auto a = testing::scratch_dir() / "a.gguf";
  const auto b = testing::scratch_dir() / "b.gguf";
  write_test_model(spec, a);
  write_test_model(spec, b);
  EXPECT_EQ(read_bytes(a), read_bytes(b));
  spec.seed = 43;
  write_test_model(spec, b);
  EXPECT_NE(read_bytes(a), read_bytes(b));
}

TEST(TestModel, HasTheRequestedShapeAndTheRealTokenizer) {
  TestModelSpec spec;
  spec.n_layer = 3;
  spec.n_embd = 96;
  spec.n_head = 6;
  spec.n_head_kv = 2;
  spec.n_ff = 160;
  spec.n_ctx = 1024;
  const auto path = testing::scratch_dir() / "shape.gguf";
  write_test_model(spec, path);
  const GgufInfo info = inspect_gguf(path);
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.n_layer, 3u);
  EXPECT_EQ(info.n_embd, 96u);
  EXPECT_EQ(info.n_head, 6u);
  EXPECT_EQ(info.n_head_kv, 2u);
  EXPECT_EQ(info.n_ff, 160u);
  EXPECT_EQ(info.context_length, 1024u);
  EXPECT_EQ(info.vocab_size, 32064u);  // phi-3's vocabulary
  EXPECT_EQ(info.tokenizer_model, "llama");
  EXPECT_NE(info.chat_template.find("<|assistant|>"), std::string::npos);
  EXPECT_EQ(info.n_params, test_model_parameter_count(spec, info.vocab_size));
  EXPECT_EQ(info.pooling_type, 0u);
}

TEST(TestModel, Q8AndF16ModelsAreSmallerThanF32) {
  TestModelSpec spec;
  const auto f32 = testing::scratch_dir() / "f32.gguf";
  const auto q8 = testing::scratch_dir() / "q8.gguf";
  write_test_model(spec, f32);
  spec.type = WeightType::kQ8_0;
  write_test_model(spec, q8);
  EXPECT_LT(inspect_gguf(q8).file_bytes * 3, inspect_gguf(f32).file_bytes);
  EXPECT_EQ(inspect_gguf(q8).file_type, "Q8_0");
}

TEST(TestModel, EmbeddingVariantSetsMeanPooling) {
  EXPECT_EQ(inspect_gguf(testing::test_model("embed")).pooling_type, 1u);
}

TEST(TestModel, ImpossibleShapesAreRejected) {
  TestModelSpec spec;
  spec.n_head = 5;  // 64 is not divisible by 5
  EXPECT_THROW(write_test_model(spec, testing::scratch_dir() / "x.gguf"), Error);
  spec = {};
  spec.type = WeightType::kQ8_0;
  spec.n_ff = 100;  // q8_0 rows need multiples of 32
  EXPECT_THROW(write_test_model(spec, testing::scratch_dir() / "x.gguf"), Error);
  EXPECT_THROW(parse_weight_type("q4"), Error);
}

TEST(TestModel, UnknownVocabListsTheAvailableOnes) {
  TestModelSpec spec;
  spec.vocab = "klingon";
  try {
    write_test_model(spec, testing::scratch_dir() / "x.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("phi-3"), std::string::npos);
  }
}

}  // namespace
}  // namespace a4ps::llm
