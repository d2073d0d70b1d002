// persona/dissonance: cognitive dissonance, measured. The divergence of BRICK's and ROBIN's
// final positions (the cosine distance of their embeddings, clipped to 0..1) is combined with
// ALFRED's judged conflict score by the weights in [motivator]; above
// [motivator] dissonance_threshold the run publishes COGNITIVE_DISSONANCE on the event bus.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace a4ps::persona {

struct DissonanceParts {
  double embedding_distance = 0;  // 0..1
  double judged = 0;              // ALFRED's score, 0..1
};

// The weighted mean of the parts (weights from `motivator`; both zero: their plain mean).
double combine_dissonance(const DissonanceParts& parts, const MotivatorConfig& motivator);

// Cosine distance of two embeddings clipped to 0..1 (opposed vectors count as 1).
double embedding_divergence(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace a4ps::persona
