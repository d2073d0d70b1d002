// evolve/base_model: the frozen weights of a llama-architecture GGUF, loaded onto a ggml
// backend for A4PS's own LoRA trainer, and the hyperparameters its forward graph needs. Only
// what the trainer can backpropagate through is accepted (see load()); anything else is an
// error before a single step runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct ggml_backend;
struct ggml_backend_buffer;
struct ggml_context;
struct ggml_tensor;

namespace a4ps::evolve {

// Owns the ggml backend the trainer computes on (the CPU, with `n_threads` threads).
class ComputeDevice {
 public:
  // n_threads 0: one per hardware thread. Throws kUnavailable if ggml has no CPU backend.
  static std::unique_ptr<ComputeDevice> create(int32_t n_threads);
  ~ComputeDevice();
  ComputeDevice(const ComputeDevice&) = delete;
  ComputeDevice& operator=(const ComputeDevice&) = delete;

  ggml_backend* backend() const { return backend_; }
  int32_t threads() const { return n_threads_; }
  std::string name() const;

 private:
  ComputeDevice(ggml_backend* backend, int32_t n_threads)
      : backend_(backend), n_threads_(n_threads) {}
  ggml_backend* backend_;
  int32_t n_threads_;
};

struct LlamaHparams {
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx_train = 0;
  uint32_t n_rot = 0;  // rotary dimensions per head
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / the linear scaling factor

  uint32_t head_dim() const { return n_embd / n_head; }
  uint32_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

struct LayerWeights {
  ggml_tensor* attn_norm = nullptr;
  ggml_tensor* attn_q = nullptr;
  ggml_tensor* attn_k = nullptr;
  ggml_tensor* attn_v = nullptr;
  ggml_tensor* attn_output = nullptr;
  ggml_tensor* ffn_norm = nullptr;
  ggml_tensor* ffn_gate = nullptr;
  ggml_tensor* ffn_up = nullptr;
  ggml_tensor* ffn_down = nullptr;
};

// The weight types whose matrices the trainer can backpropagate through, for messages.
std::string trainable_weight_types();

// Immutable after load(); safe to read from several threads.
class BaseModel {
 public:
  // Reads `path` onto `device`. Throws a4ps::Error: kNotFound (no file), kDataLoss (truncated),
  // kInvalidArgument (not a GGUF model; an architecture other than llama; a weight of a type
  // outside trainable_weight_types(); biases, experts or rope scaling the graph does not
  // implement), kResourceExhausted (the weights do not fit).
  static std::unique_ptr<BaseModel> load(const std::filesystem::path& path,
                                         const ComputeDevice& device);
  ~BaseModel();
  BaseModel(const BaseModel&) = delete;
  BaseModel& operator=(const BaseModel&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const LlamaHparams& hparams() const { return hparams_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  ggml_tensor* token_embd() const { return token_embd_; }
  ggml_tensor* output_norm() const { return output_norm_; }
  ggml_tensor* output() const { return output_; }
  ggml_tensor* rope_freqs() const { return rope_freqs_; }  // nullptr: none
  // The weight called `name` ("blk.0.attn_q.weight"), or nullptr.
  ggml_tensor* find(const std::string& name) const;
  uint64_t weight_bytes() const;

 private:
  BaseModel() = default;
  void bind_tensors();

  std::filesystem::path path_;
  LlamaHparams hparams_;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer* buffer_ = nullptr;
  std::map<std::string, ggml_tensor*> by_name_;
  std::vector<LayerWeights> layers_;
  ggml_tensor* token_embd_ = nullptr;
  ggml_tensor* output_norm_ = nullptr;
  ggml_tensor* output_ = nullptr;
  ggml_tensor* rope_freqs_ = nullptr;
};

}  // namespace a4ps::evolve
