// llm/schema_grammar: JSON schema → GBNF grammar, through llama.cpp's own converter (common's
// json-schema-to-grammar). Built as a separate library with a string-only interface, because
// llama.cpp's common links its vendored nlohmann/json, which must not meet ours in a header.
#pragma once

#include <string>
#include <string_view>

namespace a4ps::llm {

// Returns a GBNF grammar whose root accepts exactly the JSON documents the schema describes.
// Throws a4ps::Error kInvalidArgument if the text is not JSON or the schema uses something the
// converter cannot express.
std::string json_schema_to_gbnf(std::string_view schema_json);

}  // namespace a4ps::llm
