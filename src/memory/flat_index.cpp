// The exact index: int8 codes (one scale per vector) scanned linearly. The int8 inner product
// ranks like the fp32 one up to quantisation noise (~0.4% of a unit vector's length), which the
// store's fp32 re-ranking of a generous candidate list removes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "memory/vector_index.h"
#include "memory/vector_index_impl.h"

namespace a4ps::memory {
namespace {

constexpr char kFlatMagic[8] = {'A', '4', 'F', 'L', 'A', 'T', '0', '1'};

__attribute__((target("avx2"))) std::int32_t dot_avx2(const std::int8_t* a, const std::int8_t* b,
                                                      std::size_t n) {
  __m256i sum = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i va =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256i vb =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(va, vb));
  }
  alignas(32) std::int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
  std::int32_t total = 0;
  for (const std::int32_t lane : lanes) total += lane;
  for (; i < n; ++i) total += static_cast<std::int32_t>(a[i]) * static_cast<std::int32_t>(b[i]);
  return total;
}

std::int32_t dot_scalar(const std::int8_t* a, const std::int8_t* b, std::size_t n) {
  std::int32_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    total += static_cast<std::int32_t>(a[i]) * static_cast<std::int32_t>(b[i]);
  }
  return total;
}

using DotFn = std::int32_t (*)(const std::int8_t*, const std::int8_t*, std::size_t);

DotFn best_dot() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? dot_avx2 : dot_scalar;
}

// The codes of `v` and the scale that maps them back (v ≈ scale · code).
float quantize(std::span<const float> v, std::int8_t* codes) {
  float peak = 0;
  for (const float x : v) peak = std::max(peak, std::fabs(x));
  const float scale = peak > 0 ? peak / 127.0f : 1.0f;
  for (std::size_t i = 0; i < v.size(); ++i) {
    codes[i] = static_cast<std::int8_t>(std::lround(std::clamp(v[i] / scale, -127.0f, 127.0f)));
  }
  return scale;
}

class FlatIndex final : public VectorIndex {
 public:
  explicit FlatIndex(int dimension) : dim_(static_cast<std::size_t>(dimension)) {}

  std::string kind() const override { return "flat"; }
  int dimension() const override { return static_cast<int>(dim_); }
  std::size_t size() const override { return ids_.size(); }
  bool approximate_scores() const override { return true; }

  std::vector<std::int64_t> ids() const override {
    std::vector<std::int64_t> out = ids_;
    std::sort(out.begin(), out.end());
    return out;
  }

  void add(std::span<const std::int64_t> ids, std::span<const float> vectors) override {
    codes_.resize((ids_.size() + ids.size()) * dim_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::size_t row = ids_.size();
      scales_.push_back(quantize(vectors.subspan(i * dim_, dim_), codes_.data() + row * dim_));
      row_of_[ids[i]] = row;
      ids_.push_back(ids[i]);
    }
  }

  // Moves the last row into the removed one's place: order does not matter to a scan.
  void remove(std::int64_t id) override {
    const auto it = row_of_.find(id);
    if (it == row_of_.end()) return;
    const std::size_t row = it->second;
    const std::size_t last = ids_.size() - 1;
    row_of_.erase(it);
    if (row != last) {
      std::memcpy(codes_.data() + row * dim_, codes_.data() + last * dim_, dim_);
      scales_[row] = scales_[last];
      ids_[row] = ids_[last];
      row_of_[ids_[row]] = row;
    }
    ids_.pop_back();
    scales_.pop_back();
    codes_.resize(ids_.size() * dim_);
  }

  std::vector<Scored> search(std::span<const float> query, std::size_t n,
                             const KeepFn& keep) const override {
    std::vector<std::int8_t> q(dim_);
    const float q_scale = quantize(query, q.data());
    static const DotFn dot = best_dot();
    const auto worse = [](const Scored& a, const Scored& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    };
    // A min-heap of the best n so far: its top is the one to beat.
    std::priority_queue<Scored, std::vector<Scored>, decltype(worse)> best(worse);
    for (std::size_t row = 0; row < ids_.size(); ++row) {
      if (keep && !keep(ids_[row])) continue;
      const float score = static_cast<float>(dot(q.data(), codes_.data() + row * dim_, dim_)) *
                          q_scale * scales_[row];
      if (best.size() < n) {
        best.push({ids_[row], score});
      } else if (n > 0 && worse({ids_[row], score}, best.top())) {
        best.pop();
        best.push({ids_[row], score});
      }
    }
    std::vector<Scored> out(best.size());
    for (std::size_t i = out.size(); i-- > 0;) {
      out[i] = best.top();
      best.pop();
    }
    return out;
  }

  void save(const std::filesystem::path& file) const override {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    const std::uint64_t header[2] = {dim_, ids_.size()};
    out.write(kFlatMagic, sizeof kFlatMagic);
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(ids_.data()),
              static_cast<std::streamsize>(ids_.size() * sizeof(std::int64_t)));
    out.write(reinterpret_cast<const char*>(scales_.data()),
              static_cast<std::streamsize>(scales_.size() * sizeof(float)));
    out.write(reinterpret_cast<const char*>(codes_.data()),
              static_cast<std::streamsize>(codes_.size()));
    out.flush();
    if (!out) throw Error(ErrorCode::kUnavailable, "cannot write " + file.string());
  }

  void load(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    char magic[sizeof kFlatMagic] = {};
    std::uint64_t header[2] = {};
    in.read(magic, sizeof magic);
    in.read(reinterpret_cast<char*>(header), sizeof header);
    const std::uint64_t expected_bytes =
        sizeof magic + sizeof header + header[1] * (sizeof(std::int64_t) + sizeof(float) + dim_);
    if (!in || std::memcmp(magic, kFlatMagic, sizeof magic) != 0 || header[0] != dim_ ||
        std::filesystem::file_size(file) != expected_bytes) {
      throw Error(ErrorCode::kDataLoss,
                  file.string() + ": not a flat index of dimension " + std::to_string(dim_));
    }
    ids_.resize(header[1]);
    scales_.resize(header[1]);
    codes_.resize(header[1] * dim_);
    in.read(reinterpret_cast<char*>(ids_.data()),
            static_cast<std::streamsize>(ids_.size() * sizeof(std::int64_t)));
    in.read(reinterpret_cast<char*>(scales_.data()),
            static_cast<std::streamsize>(scales_.size() * sizeof(float)));
    in.read(reinterpret_cast<char*>(codes_.data()), static_cast<std::streamsize>(codes_.size()));
    if (!in) throw Error(ErrorCode::kDataLoss, file.string() + ": truncated flat index");
    for (std::size_t row = 0; row < ids_.size(); ++row) row_of_[ids_[row]] = row;
  }

  std::size_t memory_bytes() const override {
    return codes_.capacity() + scales_.capacity() * sizeof(float) +
           ids_.capacity() * sizeof(std::int64_t) +
           row_of_.size() * (sizeof(std::int64_t) + sizeof(std::size_t) + 2 * sizeof(void*));
  }

 private:
  std::size_t dim_;
  std::vector<std::int8_t> codes_;  // size() x dim_
  std::vector<float> scales_;
  std::vector<std::int64_t> ids_;
  std::unordered_map<std::int64_t, std::size_t> row_of_;
};

}  // namespace

std::unique_ptr<VectorIndex> make_flat_index(int dimension) {
  return std::make_unique<FlatIndex>(dimension);
}

std::unique_ptr<VectorIndex> load_flat_index(int dimension, const std::filesystem::path& file) {
  auto index = std::make_unique<FlatIndex>(dimension);
  index->load(file);
  return index;
}

}  // namespace a4ps::memory
