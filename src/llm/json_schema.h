// llm/json_schema: a JSON schema that constrains a model's output. Checked when it is made
// (valijson parses it as a schema; llama.cpp's converter turns it into a grammar), so a bad
// schema is an error before any inference; and able to validate documents against itself.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace a4ps::llm {

class JsonSchema {
 public:
  // Throws a4ps::Error kInvalidArgument naming what is wrong with the schema.
  static JsonSchema create(const nlohmann::json& schema);
  // Same, from text (`source` names it in messages, e.g. a file path).
  static JsonSchema parse(const std::string& text, const std::string& source);

  JsonSchema(JsonSchema&&) noexcept;
  JsonSchema& operator=(JsonSchema&&) noexcept;
  ~JsonSchema();

  const nlohmann::json& document() const { return document_; }
  // The GBNF grammar that constrains generation to this schema. Free-form parts (a value of
  // any type, an object without properties, an array without items) are bounded in it: they
  // hold scalars or arrays of at most 32 scalars, never deeper nesting, so that no model can
  // drive llama.cpp's grammar into an explosion of parse stacks. Everything the grammar
  // accepts is valid against the schema.
  const std::string& grammar() const { return grammar_; }

  // True if `value` is valid; otherwise false, with the first problems in `*why` when given.
  bool validate(const nlohmann::json& value, std::string* why = nullptr) const;

 private:
  struct Compiled;
  JsonSchema(nlohmann::json document, std::string grammar, std::unique_ptr<Compiled> compiled);

  nlohmann::json document_;
  std::string grammar_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace a4ps::llm
