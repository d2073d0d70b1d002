#include "llm/json_schema.h"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "core/error.h"
#include "llm/schema_grammar.h"

namespace a4ps::llm {

struct JsonSchema::Compiled {
  valijson::Schema schema;
};

JsonSchema::JsonSchema(nlohmann::json document, std::string grammar,
                       std::unique_ptr<Compiled> compiled)
    : document_(std::move(document)),
      grammar_(std::move(grammar)),
      compiled_(std::move(compiled)) {}
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;
JsonSchema::~JsonSchema() = default;

JsonSchema JsonSchema::create(const nlohmann::json& schema) {
  if (!schema.is_object() && !schema.is_boolean()) {
    throw_invalid_argument("JSON schema must be an object, got " + std::string(schema.type_name()));
  }
  auto compiled = std::make_unique<Compiled>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    throw_invalid_argument(std::string("invalid JSON schema: ") + e.what());
  }
  std::string grammar = json_schema_to_gbnf(schema.dump());
  return JsonSchema(schema, std::move(grammar), std::move(compiled));
}

JsonSchema JsonSchema::parse(const std::string& text, const std::string& source) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw_invalid_argument(source + ": not valid JSON: " + e.what());
  }
  try {
    return create(document);
  } catch (const Error& e) {
    throw Error(e.code(), source + ": " + e.what());
  }
}

bool JsonSchema::validate(const nlohmann::json& value, std::string* why) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(value);
  if (validator.validate(compiled_->schema, adapter, why != nullptr ? &results : nullptr)) {
    return true;
  }
  if (why != nullptr) {
    why->clear();
    valijson::ValidationResults::Error error;
    int shown = 0;
    while (results.popError(error) && shown++ < 3) {
      std::string path;
      for (const std::string& part : error.context) path += part;
      *why += (why->empty() ? "" : "; ") + path + ": " + error.description;
    }
  }
  return false;
}

}  // namespace a4ps::llm
