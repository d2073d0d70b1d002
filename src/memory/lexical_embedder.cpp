#include "memory/lexical_embedder.h"

#include <cctype>
#include <cmath>
#include <string>

#include "core/hash.h"

namespace a4ps::memory {
namespace {

void add_feature(std::vector<float>& v, std::string_view feature, float weight) {
  const std::uint64_t h = fnv1a(feature);
  const size_t slot = static_cast<size_t>(h % v.size());
  const float sign = ((h >> 63) & 1U) != 0 ? -1.0f : 1.0f;
  v[slot] += sign * weight;
}

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || u >= 0x80) {
      word += static_cast<char>(std::tolower(u));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

}  // namespace

std::vector<float> lexical_embedding(std::string_view text, int dimension) {
  std::vector<float> v(static_cast<size_t>(dimension > 0 ? dimension : kLexicalDimension), 0.0f);
  const std::vector<std::string> words = words_of(text);
  for (size_t i = 0; i < words.size(); ++i) {
    add_feature(v, "w:" + words[i], 1.0f);
    if (i + 1 < words.size()) add_feature(v, "b:" + words[i] + " " + words[i + 1], 0.7f);
    const std::string padded = " " + words[i] + " ";
    for (size_t j = 0; j + 3 <= padded.size(); ++j) {
      add_feature(v, "c:" + padded.substr(j, 3), 0.3f);
    }
  }
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  if (norm > 0) {
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= scale;
  }
  return v;
}

double cosine_distance(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return 1.0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<double>(a[i]);
    const auto y = static_cast<double>(b[i]);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na == 0 || nb == 0) return 1.0;
  return 1.0 - dot / (std::sqrt(na) * std::sqrt(nb));
}

}  // namespace a4ps::memory
