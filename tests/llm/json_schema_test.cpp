#include "llm/json_schema.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps::llm {
namespace {

TEST(JsonSchema, MakesAGrammarAndValidates) {
  const JsonSchema schema = JsonSchema::parse(
      R"({"type":"object","properties":{"score":{"type":"number","minimum":0,"maximum":1}},
          "required":["score"]})",
      "score.json");
  EXPECT_NE(schema.grammar().find("root"), std::string::npos);
  EXPECT_TRUE(schema.validate(nlohmann::json{{"score", 0.5}}));
  std::string why;
  EXPECT_FALSE(schema.validate(nlohmann::json{{"score", 3}}, &why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(schema.validate(nlohmann::json::object()));
}

TEST(JsonSchema, TextThatIsNotJsonNamesTheSource) {
  try {
    JsonSchema::parse("{not json", "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind("bad.json: not valid JSON", 0), 0u) << e.what();
  }
}

TEST(JsonSchema, InvalidSchemaIsInvalidArgument) {
  EXPECT_THROW(JsonSchema::create(nlohmann::json{{"type", 5}}), Error);
  EXPECT_THROW(JsonSchema::create(nlohmann::json{{"$ref", "#/definitions/missing"}}), Error);
  EXPECT_THROW(JsonSchema::create(nlohmann::json("string")), Error);
}

}  // namespace
}  // namespace a4ps::llm
