// core/toml_field: typed reads of one TOML value with the project's error wording:
//   FILE: [SECTION] KEY = VALUE: must be ALLOWED
// Shared by config.toml and the persona codex.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps {

inline constexpr int64_t kNoUpperLimit = std::numeric_limits<int64_t>::max();

// Where a value is read from; every read throws a4ps::Error kInvalidArgument on a wrong type
// or a value out of range.
struct TomlField {
  std::string_view source;   // file name
  std::string_view section;  // e.g. "budget" or "persona.brick"
  std::string_view key;

  [[noreturn]] void reject(const toml::node& value, std::string_view allowed) const;

  int64_t integer(const toml::node& value, int64_t min, int64_t max) const;
  double number(const toml::node& value, double min, double max) const;
  bool boolean(const toml::node& value) const;
  // When `choices` is not empty, the value must be one of them.
  std::string string(const toml::node& value, const std::vector<std::string>& choices = {}) const;
  std::string non_empty_string(const toml::node& value) const;
  std::vector<std::string> string_array(const toml::node& value) const;
};

// The value as TOML would write it (strings quoted).
std::string render_toml_value(const toml::node& value);

std::string describe_integer_range(int64_t min, int64_t max);
std::string format_toml_float(double value);

}  // namespace a4ps
