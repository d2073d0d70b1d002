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

namespace {

using nlohmann::json;

constexpr int kFreeFormMaxItems = 32;

// A scalar, or an array of scalars: what a free-form part may hold in the grammar.
const json& bounded_leaf() {
  static const json scalar = {{"type", json::array({"string", "number", "boolean", "null"})}};
  static const json leaf = {
      {"anyOf",
       json::array(
           {scalar, json{{"type", "array"}, {"items", scalar}, {"maxItems", kFreeFormMaxItems}}})}};
  return leaf;
}

bool has_any(const json& schema, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (schema.contains(key)) return true;
  }
  return false;
}

// The keys that make a schema say something about its value besides its type.
bool is_free_form(const json& schema) {
  if (schema.is_boolean()) return schema.get<bool>();
  if (!schema.is_object()) return false;
  if (has_any(schema, {"properties", "additionalProperties", "items", "prefixItems", "enum",
                       "const", "anyOf", "oneOf", "allOf", "$ref", "pattern", "format"})) {
    return false;
  }
  const json type = schema.value("type", json());
  return type.is_null() || type == "object" || type == "array";
}

json bounded_for_grammar(const json& schema);

json bounded_each(const json& schemas) {
  json out = json::array();
  for (const json& s : schemas) out.push_back(bounded_for_grammar(s));
  return out;
}

// `schema` with every free-form part (any value, any object, any array) replaced by one whose
// nesting is bounded. llama.cpp's generic JSON grammar lets a model nest values without end,
// and the ambiguous whitespace at each level multiplies the grammar's parse stacks, so a model
// that keeps opening brackets drives a single token's sampling into minutes (the hang of
// shared/repro/brick-tools-hang). Bounded, a free-form object holds scalars or flat arrays.
json bounded_for_grammar(const json& schema) {
  if (is_free_form(schema)) {
    const json type = schema.is_object() ? schema.value("type", json()) : json();
    if (type == "object") return {{"type", "object"}, {"additionalProperties", bounded_leaf()}};
    if (type == "array") {
      return {{"type", "array"}, {"items", bounded_leaf()}, {"maxItems", kFreeFormMaxItems}};
    }
    return {
        {"anyOf", json::array({bounded_leaf(),
                               {{"type", "object"}, {"additionalProperties", bounded_leaf()}}})}};
  }
  if (!schema.is_object()) return schema;
  json out = schema;
  if (schema.contains("properties") && schema["properties"].is_object()) {
    for (auto& [key, sub] : out["properties"].items()) sub = bounded_for_grammar(sub);
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (schema.contains(key) && schema[key].is_object())
      out[key] = bounded_for_grammar(schema[key]);
  }
  if (schema.contains("additionalProperties") && schema["additionalProperties"] == true) {
    out["additionalProperties"] = bounded_leaf();
  }
  for (const char* key : {"anyOf", "oneOf", "allOf", "prefixItems"}) {
    if (schema.contains(key) && schema[key].is_array()) out[key] = bounded_each(schema[key]);
  }
  return out;
}

}  // namespace

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
  // Validation keeps the schema as given: what the bounded grammar accepts is valid against it.
  std::string grammar = json_schema_to_gbnf(bounded_for_grammar(schema).dump());
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
