// memory/lexical_embedder: the built-in embedder used when no embedding model is configured.
// Deterministic: hashed word unigrams and bigrams and character trigrams, signed by a second
// hash, L2-normalised. It measures word overlap, not meaning; A4PS says so wherever it is used.
#pragma once

#include <string_view>
#include <vector>

namespace a4ps::memory {

inline constexpr int kLexicalDimension = 384;

std::vector<float> lexical_embedding(std::string_view text, int dimension = kLexicalDimension);

// 1 - cosine similarity, in [0, 2]; 1 when either vector is zero (nothing in common).
double cosine_distance(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace a4ps::memory
