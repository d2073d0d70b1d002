#include "evolve/gate.h"

#include <algorithm>
#include <random>

#include "core/error.h"

namespace a4ps::evolve {

PairedComparison paired_bootstrap(const std::vector<double>& baseline,
                                  const std::vector<double>& candidate, std::int64_t samples,
                                  std::uint64_t seed) {
  if (baseline.empty() || baseline.size() != candidate.size()) {
    throw_invalid_argument("paired comparison: " + std::to_string(baseline.size()) + " and " +
                           std::to_string(candidate.size()) +
                           " losses; expected the same non-zero number");
  }
  if (samples < 1) throw_invalid_argument("paired comparison: at least one resample");
  const size_t n = baseline.size();
  std::vector<double> diff(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    diff[i] = baseline[i] - candidate[i];
    sum += diff[i];
  }
  PairedComparison out;
  out.n = static_cast<std::int64_t>(n);
  out.mean_improvement = sum / static_cast<double>(n);
  std::mt19937_64 engine(seed);
  std::vector<double> means(static_cast<size_t>(samples));
  for (double& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += diff[engine() % n];
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  const auto at = [&](double q) {
    const auto index = static_cast<size_t>(q * static_cast<double>(means.size() - 1) + 0.5);
    return means[std::min(index, means.size() - 1)];
  };
  out.ci_low = at(0.025);
  out.ci_high = at(0.975);
  return out;
}

}  // namespace a4ps::evolve
