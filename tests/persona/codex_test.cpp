#include "persona/codex.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps {
namespace {

const char* kMinimalCodex = R"(
version = 1
[persona.alfred]
name = "ALFRED"
role = "r"
model = "alfred"
system_prompt = "You are ALFRED."
[persona.babs]
name = "BABS"
role = "r"
model = "babs"
system_prompt = "You are BABS."
[persona.brick]
name = "BRICK"
role = "r"
model = "brick"
system_prompt = "You are BRICK."
core_imperatives = ["Think.", "Build."]
[persona.brick.sampling]
temperature = 0.5
max_tokens = 99
[persona.robin]
name = "ROBIN"
role = "r"
model = "robin"
system_prompt = "You are ROBIN."
)";

std::string error_of(const std::string& text) {
  try {
    Codex::load_string(text, "codex.toml", Config::defaults());
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(Codex, BuiltinCodexHasTheFourPersonasFromTheBlueprint) {
  const Codex codex = Codex::builtin(Config::defaults());
  ASSERT_EQ(codex.personas().size(), 4u);
  EXPECT_TRUE(codex.warnings().empty());
  for (const Persona& p : codex.personas()) {
    EXPECT_FALSE(p.role.empty()) << p.id;
    EXPECT_GE(p.core_imperatives.size(), 3u) << p.id;
    EXPECT_GT(p.system_prompt.size(), 200u) << p.id;
    EXPECT_EQ(p.model, p.id);
  }
  EXPECT_NE(codex.persona("brick").full_system_prompt().find("Never Enough Justice"),
            std::string::npos);
  EXPECT_NE(codex.persona("robin").full_system_prompt().find("Prime Directive of the Open Heart"),
            std::string::npos);
}

TEST(Codex, PersonaLookupIsCaseInsensitiveByIdOrName) {
  const Codex codex = Codex::load_string(kMinimalCodex, "codex.toml", Config::defaults());
  EXPECT_EQ(codex.persona("BRICK").id, "brick");
  EXPECT_EQ(codex.persona("Robin").name, "ROBIN");
  try {
    codex.persona("batman");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("ALFRED, BABS, BRICK, ROBIN"), std::string::npos);
  }
}

TEST(Codex, SamplingAndImperativesAreRead) {
  const Codex codex = Codex::load_string(kMinimalCodex, "codex.toml", Config::defaults());
  const Persona& brick = codex.persona("brick");
  EXPECT_FLOAT_EQ(brick.sampling.temperature, 0.5f);
  EXPECT_EQ(brick.max_tokens, 99);
  EXPECT_EQ(brick.full_system_prompt(),
            "You are BRICK.\n\nYour core imperatives:\n- Think.\n- Build.\n");
}

TEST(Codex, UnknownModelNameIsAnErrorListingKnownNames) {
  std::string text = kMinimalCodex;
  text.replace(text.find("model = \"brick\""), 15, "model = \"brik\"");
  EXPECT_EQ(error_of(text),
            "codex.toml: [persona.brick] model = \"brik\": must be a model named in <defaults> "
            "[models] (alfred, babs, brick, embedding, robin)");
}

TEST(Codex, MissingPersonaIsAnError) {
  std::string text = kMinimalCodex;
  text.replace(text.find("[persona.robin]"), 15, "[persona.robyn]");
  EXPECT_NE(error_of(text).find("[persona.robin] is missing"), std::string::npos);
}

TEST(Codex, MissingSystemPromptIsAnError) {
  std::string text = kMinimalCodex;
  text.replace(text.find("system_prompt = \"You are BABS.\""), 31, "");
  EXPECT_NE(error_of(text).find("[persona.babs] has no system_prompt"), std::string::npos);
}

TEST(Codex, OutOfRangeSamplingIsAnError) {
  std::string text = kMinimalCodex;
  text.replace(text.find("temperature = 0.5"), 17, "temperature = -1");
  EXPECT_EQ(error_of(text),
            "codex.toml: [persona.brick.sampling] temperature = -1: must be a number from 0.0 "
            "to 5.0");
}

TEST(Codex, UnsupportedVersionIsAnError) {
  std::string text = kMinimalCodex;
  text.replace(text.find("version = 1"), 11, "version = 7");
  EXPECT_NE(error_of(text).find("version = 7"), std::string::npos);
}

TEST(Codex, APersonaMayNameALoraAdapterRelativeToTheCodexFile) {
  std::string text = kMinimalCodex;
  text.replace(text.find("core_imperatives"), 0,
               "adapter = \"adapters/brick-v2.gguf\"\nadapter_scale = 0.75\n");
  const Codex codex =
      Codex::load_string(text, "/images/one/codex/persona_codex.toml", Config::defaults());
  const Persona& brick = codex.persona("brick");
  ASSERT_TRUE(brick.adapter.has_value());
  EXPECT_EQ(brick.adapter->path, "/images/one/codex/adapters/brick-v2.gguf");
  EXPECT_FLOAT_EQ(brick.adapter->scale, 0.75f);
  EXPECT_FALSE(codex.persona("robin").adapter.has_value());
}

TEST(Codex, AnAdapterScaleWithoutAnAdapterIsAnError) {
  std::string text = kMinimalCodex;
  text.replace(text.find("core_imperatives"), 0, "adapter_scale = 0.5\n");
  EXPECT_NE(error_of(text).find("adapter_scale is set but adapter"), std::string::npos);
}

}  // namespace
}  // namespace a4ps
