#include "llm/gguf_info.h"

#include <gguf.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "llm/llama_backend.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

ErrorCode code_of_inspect(const std::filesystem::path& path, std::string* message = nullptr) {
  try {
    inspect_gguf(path);
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  return ErrorCode::kInternal;
}

TEST(GgufInfo, MissingFileIsNotFound) {
  EXPECT_EQ(code_of_inspect("/nonexistent/model.gguf"), ErrorCode::kNotFound);
}

TEST(GgufInfo, NonGgufFileIsInvalidArgument) {
  std::string message;
  const auto path = testing::write_scratch_file("notes.gguf", "this is plain text\n");
  EXPECT_EQ(code_of_inspect(path, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("not a GGUF model file"), std::string::npos);
}

TEST(GgufInfo, TruncatedFileIsDataLoss) {
  std::ifstream in(testing::test_model("tiny"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const size_t keep : {bytes.size() / 2, size_t{100}, size_t{8}}) {
    std::string message;
    const auto path = testing::write_scratch_file("truncated.gguf", bytes.substr(0, keep));
    EXPECT_EQ(code_of_inspect(path, &message), ErrorCode::kDataLoss) << keep;
    // llama.cpp itself must never see it either.
    EXPECT_THROW(LlamaBackend::create({.path = path}), Error);
  }
}

TEST(GgufInfo, UnsupportedArchitectureIsRejectedBeforeInference) {
  gguf_context* ctx = gguf_init_empty();
  gguf_set_val_str(ctx, "general.architecture", "quantum-brain");
  const auto path = testing::scratch_dir() / "quantum.gguf";
  ASSERT_TRUE(gguf_write_to_file(ctx, path.string().c_str(), false));
  gguf_free(ctx);
  EXPECT_EQ(inspect_gguf(path).architecture, "quantum-brain");
  try {
    LlamaBackend::create({.path = path});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("architecture 'quantum-brain' is not supported"),
              std::string::npos)
        << e.what();
  }
}

TEST(GgufInfo, EstimatesMemoryFromWeightsAndKvCache) {
  const GgufInfo info = inspect_gguf(testing::test_model("tiny"));
  // 2 layers x 4096 ctx x 4 kv heads x 16 dims x (K and V) x 2 bytes
  EXPECT_EQ(info.kv_cache_bytes(4096), 2ull * 4096 * 4 * 16 * 2 * 2);
  EXPECT_GT(info.estimate_memory_bytes(4096), info.tensor_bytes + info.kv_cache_bytes(4096));
  EXPECT_LE(info.tensor_bytes, info.file_bytes);
}

}  // namespace
}  // namespace a4ps::llm
