// llm/schema_grammar: what the embedded engine takes from llama.cpp's common library: JSON
// schema → GBNF grammar (common's json-schema-to-grammar), and the CPU core count llama.cpp's
// own tools run with. Built as a separate library with a string-only interface, because
// llama.cpp's common links its vendored nlohmann/json, which must not meet ours in a header.
#pragma once

#include <string>
#include <string_view>

namespace a4ps::llm {

// Returns a GBNF grammar whose root accepts exactly the JSON documents the schema describes.
// Throws a4ps::Error kInvalidArgument if the text is not JSON or the schema uses something the
// converter cannot express.
std::string json_schema_to_gbnf(std::string_view schema_json);

// The threads a model runs with when the config leaves it to us: the physical cores (hyper-
// threads share a core's arithmetic units and only add barrier waits), as llama-cli and
// llama-server choose by default. At least 1.
int physical_cpu_cores();

}  // namespace a4ps::llm
