#include "core/toml_field.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/text.h"

namespace a4ps {

std::string render_toml_value(const toml::node& value) {
  // toml++ would write 'single-quoted' literal strings; messages quote as config.toml does.
  if (value.is_string()) return quote_string(value.as_string()->get());
  std::ostringstream out;
  value.visit([&out](auto&& v) { out << v; });
  return out.str();
}

std::string describe_integer_range(int64_t min, int64_t max) {
  if (max == kNoUpperLimit) {
    if (min == 1) return "a positive integer";
    if (min == 0) return "a non-negative integer";
    return "an integer >= " + std::to_string(min);
  }
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

std::string format_toml_float(double value) {
  std::ostringstream out;
  out << value;
  std::string text = out.str();
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

void TomlField::reject(const toml::node& value, std::string_view allowed) const {
  const std::string where =
      section.empty() ? std::string(key) : "[" + std::string(section) + "] " + std::string(key);
  throw_invalid_argument(std::string(source) + ": " + where + " = " + render_toml_value(value) +
                         ": must be " + std::string(allowed));
}

int64_t TomlField::integer(const toml::node& value, int64_t min, int64_t max) const {
  if (!value.is_integer()) reject(value, describe_integer_range(min, max));
  const int64_t v = value.as_integer()->get();
  if (v < min || v > max) reject(value, describe_integer_range(min, max));
  return v;
}

double TomlField::number(const toml::node& value, double min, double max) const {
  const std::string allowed =
      "a number from " + format_toml_float(min) + " to " + format_toml_float(max);
  double v = 0;
  if (value.is_floating_point()) {
    v = value.as_floating_point()->get();
  } else if (value.is_integer()) {
    v = static_cast<double>(value.as_integer()->get());
  } else {
    reject(value, allowed);
  }
  if (!std::isfinite(v) || v < min || v > max) reject(value, allowed);
  return v;
}

bool TomlField::boolean(const toml::node& value) const {
  if (!value.is_boolean()) reject(value, "true or false");
  return value.as_boolean()->get();
}

std::string TomlField::string(const toml::node& value,
                              const std::vector<std::string>& choices) const {
  std::string allowed = "a string";
  if (!choices.empty()) {
    allowed = "one of";
    for (size_t i = 0; i < choices.size(); ++i) {
      allowed += (i == 0 ? " " : ", ") + quote_string(choices[i]);
    }
  }
  if (!value.is_string()) reject(value, allowed);
  std::string v = value.as_string()->get();
  if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
    reject(value, allowed);
  }
  return v;
}

std::string TomlField::non_empty_string(const toml::node& value) const {
  if (!value.is_string() || value.as_string()->get().empty()) reject(value, "a non-empty string");
  return value.as_string()->get();
}

std::vector<std::string> TomlField::string_array(const toml::node& value) const {
  const auto* array = value.as_array();
  if (array == nullptr) reject(value, "an array of strings");
  std::vector<std::string> values;
  for (const auto& item : *array) {
    if (!item.is_string()) reject(value, "an array of strings");
    values.push_back(item.as_string()->get());
  }
  return values;
}

}  // namespace a4ps
