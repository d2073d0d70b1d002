#include "llm/schema_grammar.h"

#include <common.h>
#include <json-schema-to-grammar.h>

#include <algorithm>
#include <exception>

#include "core/error.h"

namespace a4ps::llm {

std::string json_schema_to_gbnf(std::string_view schema_json) {
  try {
    return json_schema_to_grammar(common_json::parse(std::string(schema_json)));
  } catch (const std::exception& e) {
    throw_invalid_argument(std::string("JSON schema cannot be turned into a grammar: ") + e.what());
  }
}

int physical_cpu_cores() {
  return std::max(1, static_cast<int>(common_cpu_get_num_math()));
}

}  // namespace a4ps::llm
