// evolve/lora: a LoRA adapter as the trainer holds it — for each adapted weight W of the base
// a pair A [n_in, rank] and B [rank, n_out] in F32, so that the layer computes
// W·x + scale·B·(A·x) with scale = alpha / rank, exactly as llama.cpp applies an adapter
// (src/llama-graph.cpp, build_lora_mm). Read from and written to the adapter GGUF llama.cpp's
// loader accepts: general.type = adapter, adapter.type = lora, adapter.lora.alpha, and the
// tensors "<weight>.lora_a" / "<weight>.lora_b".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "evolve/base_model.h"

namespace a4ps::evolve {

// The weights a LoRA can adapt, by their name inside a layer.
const std::vector<std::string>& lora_target_names();

// Parses "attn_q,attn_v" (or "attention", "ffn", "all"); throws kInvalidArgument naming the
// unknown entry and the known ones.
std::vector<std::string> parse_lora_targets(const std::string& list);

struct LoraOptions {
  uint32_t rank = 8;
  float alpha = 16.0f;
  std::vector<std::string> targets = {"attn_q", "attn_k", "attn_v", "attn_output"};
};

struct LoraPair {
  ggml_tensor* a = nullptr;  // [n_in, rank]
  ggml_tensor* b = nullptr;  // [rank, n_out]
  float scale = 1.0f;        // alpha / rank, times the adapter's strength
};

class LoraWeights {
 public:
  // A fresh adapter: A uniform in ±1/sqrt(n_in) from `seed`, B zero, so it starts as the
  // identity. Throws kInvalidArgument for a rank outside 1..n_embd or an empty target list.
  static std::unique_ptr<LoraWeights> create(const BaseModel& base, const LoraOptions& options,
                                             uint64_t seed, const ComputeDevice& device);
  // Reads an adapter GGUF and applies it at `strength`. Throws kNotFound, kDataLoss, or
  // kInvalidArgument when it is not a LoRA for `base` (llm::check_lora_matches' rules).
  static std::unique_ptr<LoraWeights> load(const std::filesystem::path& path, const BaseModel& base,
                                           const ComputeDevice& device, float strength = 1.0f);
  ~LoraWeights();
  LoraWeights(const LoraWeights&) = delete;
  LoraWeights& operator=(const LoraWeights&) = delete;

  // The pair adapting `weight`, or nullptr.
  const LoraPair* find(const ggml_tensor* weight) const;
  // Every A and B, in a fixed order (layer, target, a before b).
  const std::vector<ggml_tensor*>& parameters() const { return parameters_; }
  uint64_t parameter_count() const;
  float alpha() const { return alpha_; }

  // Writes the adapter GGUF through a temporary file, fsynced and renamed into place.
  // `metadata` adds string keys (a4ps.*). Throws kInternal if it cannot be written.
  void save(const std::filesystem::path& path,
            const std::map<std::string, std::string>& metadata) const;

 private:
  LoraWeights() = default;
  void allocate(const ComputeDevice& device);
  ggml_tensor* add_pair(const BaseModel& base, const std::string& weight, int64_t rank);

  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer* buffer_ = nullptr;
  float alpha_ = 0.0f;
  std::map<const ggml_tensor*, LoraPair> pairs_;
  std::vector<std::string> weight_names_;  // parallel to pairs, in parameters_ order
  std::vector<ggml_tensor*> parameters_;
};

}  // namespace a4ps::evolve
