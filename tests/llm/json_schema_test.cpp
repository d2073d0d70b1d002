#include "llm/json_schema.h"

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "llm/schema_grammar.h"

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

// The rules a GBNF grammar's rule refers to, by name (strings, character classes and
// repetition counts skipped).
std::map<std::string, std::set<std::string>> grammar_references(const std::string& grammar) {
  std::map<std::string, std::string> bodies;
  std::istringstream lines(grammar);
  for (std::string line; std::getline(lines, line);) {
    const size_t arrow = line.find(" ::= ");
    if (arrow != std::string::npos) bodies[line.substr(0, arrow)] = line.substr(arrow + 5);
  }
  std::map<std::string, std::set<std::string>> refs;
  for (const auto& [name, body] : bodies) {
    std::set<std::string>& out = refs[name];
    for (size_t i = 0; i < body.size();) {
      const char c = body[i];
      if (c == '"' || c == '[' || c == '{') {
        const char close = c == '"' ? '"' : c == '[' ? ']' : '}';
        for (++i; i < body.size() && body[i] != close; ++i) {
          if (body[i] == '\\') ++i;
        }
        ++i;
      } else if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-') {
        size_t j = i;
        while (j < body.size() &&
               (std::isalnum(static_cast<unsigned char>(body[j])) != 0 || body[j] == '-')) {
          ++j;
        }
        const std::string word = body.substr(i, j - i);
        if (bodies.contains(word)) out.insert(word);
        i = j;
      } else {
        ++i;
      }
    }
  }
  return refs;
}

// True if some rule can reach itself: a part of the document that can nest without end.
bool has_cycle(const std::map<std::string, std::set<std::string>>& refs) {
  std::map<std::string, int> state;  // 1: on the path, 2: done
  std::function<bool(const std::string&)> visit = [&](const std::string& rule) {
    if (state[rule] == 1) return true;
    if (state[rule] == 2) return false;
    state[rule] = 1;
    for (const std::string& next : refs.at(rule)) {
      if (visit(next)) return true;
    }
    state[rule] = 2;
    return false;
  };
  for (const auto& [rule, next] : refs) {
    if (visit(rule)) return true;
  }
  return false;
}

TEST(JsonSchema, FreeFormPartsCannotNestWithoutEndInTheGrammar) {
  // llama.cpp's own grammar for a free-form object is recursive (value -> object -> value).
  const nlohmann::json free_object = {{"type", "object"}};
  EXPECT_TRUE(has_cycle(grammar_references(json_schema_to_gbnf(free_object.dump()))));
  for (const nlohmann::json& schema :
       {nlohmann::json{{"type", "object"}, {"properties", {{"arguments", free_object}}}},
        nlohmann::json{{"type", "array"}}, nlohmann::json::object(),
        nlohmann::json{{"type", "object"},
                       {"properties", {{"examples", {{"type", "array"}, {"items", free_object}}}}},
                       {"additionalProperties", true}}}) {
    SCOPED_TRACE(schema.dump());
    const JsonSchema bounded = JsonSchema::create(schema);
    EXPECT_FALSE(has_cycle(grammar_references(bounded.grammar()))) << bounded.grammar();
  }
}

TEST(JsonSchema, BoundedFreeFormPartsStillValidateAsTheSchemaSays) {
  const JsonSchema schema = JsonSchema::create(
      {{"type", "object"}, {"properties", {{"arguments", {{"type", "object"}}}}}});
  // Validation is the schema's, unbounded: deeper documents from elsewhere are still valid.
  EXPECT_TRUE(schema.validate({{"arguments", {{"a", {{"b", {{"c", 1}}}}}}}}));
  EXPECT_FALSE(schema.validate({{"arguments", 3}}));
}

}  // namespace
}  // namespace a4ps::llm
