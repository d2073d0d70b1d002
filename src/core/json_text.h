// core/json_text: JSON as text for storage. Text that is not UTF-8 (a model sampled at random,
// a tool's output, a file) must not make a write fail, so such bytes become U+FFFD.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace a4ps {

// `value` dumped compactly, with bytes that are not UTF-8 replaced by U+FFFD.
inline std::string stored_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// j[key] when it is a string, else "" (model output and tool reports are not trusted to have
// the shape they should).
inline std::string string_field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                : std::string();
}

}  // namespace a4ps
