#include "llm/model_ref.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps::llm {
namespace {

TEST(ModelRef, ParsesEachForm) {
  const ModelRef gguf = ModelRef::parse("gguf:/m/brick.gguf", "/cfg");
  EXPECT_EQ(gguf.source, ModelSource::kLocalGguf);
  EXPECT_EQ(gguf.path, "/m/brick.gguf");
  EXPECT_EQ(ModelRef::parse("models/brick.gguf", "/cfg").path, "/cfg/models/brick.gguf");
  const ModelRef ollama = ModelRef::parse("ollama:phi3:mini-4k-instruct", "/cfg");
  EXPECT_EQ(ollama.source, ModelSource::kOllama);
  EXPECT_EQ(ollama.name, "phi3:mini-4k-instruct");
  const ModelRef openai = ModelRef::parse("openai:qwen@http://127.0.0.1:8080/", "/cfg");
  EXPECT_EQ(openai.source, ModelSource::kOpenAI);
  EXPECT_EQ(openai.name, "qwen");
  EXPECT_EQ(openai.base_url, "http://127.0.0.1:8080");
}

TEST(ModelRef, BlueprintNamesResolveToOllamaWhenNoSuchFileExists) {
  EXPECT_EQ(ModelRef::parse("phi3:mini-4k-instruct", "/cfg").source, ModelSource::kOllama);
  EXPECT_EQ(ModelRef::parse("nomic-embed-text", "/cfg").source, ModelSource::kOllama);
}

TEST(ModelRef, MalformedReferencesAreInvalidArguments) {
  for (const char* bad : {"", "ollama:", "openai:qwen", "openai:@http://h", "openai:q@ftp://h",
                          "openai:q@http://", "gguf:"}) {
    try {
      ModelRef::parse(bad, "/cfg");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("expected gguf:PATH"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace a4ps::llm
