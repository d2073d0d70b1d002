#include "evolve/lora.h"

#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/hash.h"
#include "evolve/gguf_file.h"
#include "llm/ggml_log.h"
#include "llm/gguf_info.h"

namespace a4ps::evolve {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

constexpr const char* kSuffixA = ".lora_a";
constexpr const char* kSuffixB = ".lora_b";

ggml_context* new_metadata_context(size_t n_tensors) {
  return ggml_init({n_tensors * ggml_tensor_overhead() + 1024, nullptr, /*no_alloc=*/true});
}

float pair_scale(float alpha, int64_t rank, float strength) {
  return alpha != 0.0f ? strength * alpha / static_cast<float>(rank) : strength;
}

// The adapter tensor's values as F32 (adapters written by other tools may be F16).
std::vector<float> values_of(const ggml_tensor* t, const std::string& where) {
  const size_t n = static_cast<size_t>(ggml_nelements(t));
  std::vector<float> out(n);
  if (t->type == GGML_TYPE_F32) {
    std::copy_n(static_cast<const float*>(t->data), n, out.data());
  } else if (t->type == GGML_TYPE_F16) {
    ggml_fp16_to_fp32_row(static_cast<const ggml_fp16_t*>(t->data), out.data(),
                          static_cast<int64_t>(n));
  } else {
    throw_invalid_argument(where + ": " + ggml_get_name(t) + " is " + ggml_type_name(t->type) +
                           "; the trainer reads F32 and F16 adapters");
  }
  return out;
}

}  // namespace

const std::vector<std::string>& lora_target_names() {
  static const std::vector<std::string> names = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                 "ffn_gate", "ffn_up", "ffn_down"};
  return names;
}

std::vector<std::string> parse_lora_targets(const std::string& list) {
  std::vector<std::string> out;
  const auto add = [&](const std::string& name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const auto& known = lora_target_names();
    if (item == "all") {
      for (const auto& n : known) add(n);
    } else if (item == "attention") {
      for (const auto& n : {"attn_q", "attn_k", "attn_v", "attn_output"}) add(n);
    } else if (item == "ffn") {
      for (const auto& n : {"ffn_gate", "ffn_up", "ffn_down"}) add(n);
    } else if (std::find(known.begin(), known.end(), item) != known.end()) {
      add(item);
    } else {
      std::string names;
      for (const auto& n : known) names += n + ", ";
      throw_invalid_argument("LoRA target '" + item + "': expected one of " + names +
                             "attention, ffn or all");
    }
  }
  if (out.empty()) throw_invalid_argument("LoRA targets '" + list + "': name at least one");
  return out;
}

ggml_tensor* LoraWeights::add_pair(const BaseModel& base, const std::string& weight, int64_t rank) {
  ggml_tensor* w = base.find(weight);
  if (w == nullptr) throw_invalid_argument("LoRA: the base has no tensor " + weight);
  LoraPair pair;
  pair.a = ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, w->ne[0], rank);
  pair.b = ggml_new_tensor_2d(ctx_, GGML_TYPE_F32, rank, w->ne[1]);
  ggml_set_name(pair.a, (weight + kSuffixA).c_str());
  ggml_set_name(pair.b, (weight + kSuffixB).c_str());
  pair.scale = pair_scale(alpha_, rank, 1.0f);
  pairs_[w] = pair;
  weight_names_.push_back(weight);
  parameters_.push_back(pair.a);
  parameters_.push_back(pair.b);
  return w;
}

void LoraWeights::allocate(const ComputeDevice& device) {
  buffer_ = ggml_backend_alloc_ctx_tensors(ctx_, device.backend());
  if (buffer_ == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, "LoRA: cannot allocate the adapter's tensors");
  }
  ggml_backend_buffer_clear(buffer_, 0);
}

std::unique_ptr<LoraWeights> LoraWeights::create(const BaseModel& base, const LoraOptions& options,
                                                 uint64_t seed, const ComputeDevice& device) {
  const LlamaHparams& h = base.hparams();
  if (options.rank < 1 || options.rank > h.n_embd) {
    throw_invalid_argument("LoRA rank " + std::to_string(options.rank) + ": must be 1.." +
                           std::to_string(h.n_embd) + " (the model's embedding size)");
  }
  if (options.targets.empty()) throw_invalid_argument("LoRA: no target tensors");
  if (!std::isfinite(options.alpha) || options.alpha <= 0.0f) {
    throw_invalid_argument("LoRA alpha " + std::to_string(options.alpha) + ": must be > 0");
  }
  std::unique_ptr<LoraWeights> lora(new LoraWeights());
  lora->alpha_ = options.alpha;
  std::string joined;
  for (const std::string& t : options.targets) joined += t + ",";
  const std::vector<std::string> targets = parse_lora_targets(joined);  // checks, expands "all"
  lora->ctx_ = new_metadata_context(2 * h.n_layer * targets.size());
  for (uint32_t i = 0; i < h.n_layer; ++i) {
    for (const std::string& target : targets) {
      lora->add_pair(base, "blk." + std::to_string(i) + "." + target + ".weight", options.rank);
    }
  }
  lora->allocate(device);
  for (size_t p = 0; p < lora->weight_names_.size(); ++p) {
    ggml_tensor* a = lora->parameters_[2 * p];
    const float bound = 1.0f / std::sqrt(static_cast<float>(a->ne[0]));
    std::mt19937_64 engine(seed ^ fnv1a(lora->weight_names_[p]));
    std::vector<float> values(static_cast<size_t>(ggml_nelements(a)));
    for (float& v : values) {
      const double unit = static_cast<double>(engine() >> 11) * 0x1.0p-53;
      v = static_cast<float>((unit * 2.0 - 1.0) * static_cast<double>(bound));
    }
    ggml_backend_tensor_set(a, values.data(), 0, ggml_nbytes(a));
  }
  return lora;
}

std::unique_ptr<LoraWeights> LoraWeights::load(const std::filesystem::path& path,
                                               const BaseModel& base, const ComputeDevice& device,
                                               float strength) {
  const std::string where = path.string();
  if (!std::isfinite(strength)) throw_invalid_argument(where + ": the strength is not finite");
  llm::check_lora_matches(path, llm::inspect_gguf(base.path()));
  ggml_context* data_ctx = nullptr;
  llm::GgmlLogCapture capture;
  std::unique_ptr<gguf_context, GgufDeleter> meta(
      gguf_init_from_file(where.c_str(), {/*no_alloc=*/false, &data_ctx}));
  if (!meta)
    throw_invalid_argument(where + ": not a readable GGUF (" + capture.last_error_or("?") + ")");
  std::unique_ptr<ggml_context, GgmlDeleter> data(data_ctx);
  std::unique_ptr<LoraWeights> lora(new LoraWeights());
  const int64_t alpha_key = gguf_find_key(meta.get(), "adapter.lora.alpha");
  if (alpha_key >= 0 && gguf_get_kv_type(meta.get(), alpha_key) != GGUF_TYPE_FLOAT32) {
    throw_invalid_argument(where + ": adapter.lora.alpha is not a float");
  }
  lora->alpha_ = alpha_key >= 0 ? gguf_get_val_f32(meta.get(), alpha_key) : 0.0f;
  lora->ctx_ = new_metadata_context(static_cast<size_t>(gguf_get_n_tensors(meta.get())));
  std::vector<std::pair<ggml_tensor*, ggml_tensor*>> copies;  // (ours, the file's)
  for (int64_t i = 0; i < gguf_get_n_tensors(meta.get()); ++i) {
    const std::string name = gguf_get_tensor_name(meta.get(), i);
    if (!name.ends_with(kSuffixA)) continue;
    const std::string weight = name.substr(0, name.size() - std::string(kSuffixA).size());
    ggml_tensor* file_a = ggml_get_tensor(data.get(), name.c_str());
    ggml_tensor* file_b = ggml_get_tensor(data.get(), (weight + kSuffixB).c_str());
    if (file_b == nullptr) throw_invalid_argument(where + ": " + name + " has no lora_b");
    const ggml_tensor* w = lora->add_pair(base, weight, file_a->ne[1]);
    LoraPair& pair = lora->pairs_[w];
    pair.scale = pair_scale(lora->alpha_, file_a->ne[1], strength);
    copies.emplace_back(pair.a, file_a);
    copies.emplace_back(pair.b, file_b);
  }
  if (copies.empty()) throw_invalid_argument(where + ": has no lora_a/lora_b tensors");
  lora->allocate(device);
  for (const auto& [ours, theirs] : copies) {
    const std::vector<float> values = values_of(theirs, where);
    ggml_backend_tensor_set(ours, values.data(), 0, ggml_nbytes(ours));
  }
  return lora;
}

LoraWeights::~LoraWeights() {
  if (buffer_ != nullptr) ggml_backend_buffer_free(buffer_);
  if (ctx_ != nullptr) ggml_free(ctx_);
}

const LoraPair* LoraWeights::find(const ggml_tensor* weight) const {
  const auto it = pairs_.find(weight);
  return it == pairs_.end() ? nullptr : &it->second;
}

uint64_t LoraWeights::parameter_count() const {
  uint64_t n = 0;
  for (const ggml_tensor* t : parameters_) n += static_cast<uint64_t>(ggml_nelements(t));
  return n;
}

void LoraWeights::save(const std::filesystem::path& path,
                       const std::map<std::string, std::string>& metadata) const {
  std::unique_ptr<gguf_context, GgufDeleter> meta(gguf_init_empty());
  gguf_set_val_str(meta.get(), "general.architecture", "llama");
  gguf_set_val_str(meta.get(), "general.type", "adapter");
  gguf_set_val_str(meta.get(), "adapter.type", "lora");
  gguf_set_val_f32(meta.get(), "adapter.lora.alpha", alpha_);
  for (const auto& [key, value] : metadata)
    gguf_set_val_str(meta.get(), key.c_str(), value.c_str());
  NamedTensors tensors;
  for (const ggml_tensor* t : parameters_) tensors.emplace_back(t, ggml_get_name(t));
  write_gguf_durably(meta.get(), tensors, path, "the adapter");
}

}  // namespace a4ps::evolve
