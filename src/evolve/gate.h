// evolve/gate: the adoption gate's statistics. A candidate adapter and the one in use (or the
// base) each give every held-out example a mean token loss over its assistant turn; the gate
// looks at the paired improvements (baseline − candidate) and their 95% interval from a
// seeded bootstrap, so the same losses always give the same verdict.
#pragma once

#include <cstdint>
#include <vector>

namespace a4ps::evolve {

struct PairedComparison {
  std::int64_t n = 0;
  double mean_improvement = 0;  // nats per assistant token; > 0: the candidate is better
  double ci_low = 0;            // 2.5th percentile of the resampled means
  double ci_high = 0;           // 97.5th percentile
};

// Throws kInvalidArgument when the two are of different lengths or empty.
PairedComparison paired_bootstrap(const std::vector<double>& baseline,
                                  const std::vector<double>& candidate, std::int64_t samples,
                                  std::uint64_t seed);

}  // namespace a4ps::evolve
