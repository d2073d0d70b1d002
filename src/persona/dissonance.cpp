#include "persona/dissonance.h"

#include <algorithm>

#include "memory/lexical_embedder.h"

namespace a4ps::persona {

double combine_dissonance(const DissonanceParts& parts, const MotivatorConfig& motivator) {
  double we = std::max(0.0, motivator.dissonance_embedding_weight);
  double wj = std::max(0.0, motivator.dissonance_judge_weight);
  if (we + wj == 0) we = wj = 1;
  return std::clamp((we * parts.embedding_distance + wj * parts.judged) / (we + wj), 0.0, 1.0);
}

double embedding_divergence(const std::vector<float>& a, const std::vector<float>& b) {
  return std::clamp(memory::cosine_distance(a, b), 0.0, 1.0);
}

}  // namespace a4ps::persona
