// llm/gguf_info: reads a GGUF file's header (metadata and tensor table, not the weights) to
// describe a model and to validate the file before llama.cpp ever sees it, and estimates the
// memory a model needs for a given context.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace a4ps::llm {

struct GgufTensorShape {
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t bytes = 0;
};

struct GgufInfo {
  std::filesystem::path path;
  uint64_t file_bytes = 0;
  uint64_t tensor_bytes = 0;  // the weights
  uint64_t n_params = 0;
  int64_t n_tensors = 0;
  std::string architecture;
  std::string name;
  std::string file_type;  // e.g. "Q8_0" when general.file_type is present
  uint32_t context_length = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t head_dim = 0;  // key/value length per head
  uint32_t vocab_size = 0;
  std::string tokenizer_model;
  std::string chat_template;
  uint32_t pooling_type = 0;  // 0: none; 1: mean; 2: cls; 3: last
  std::map<std::string, GgufTensorShape> tensors;

  // Bytes of the key/value cache for `n_ctx` tokens at f16.
  uint64_t kv_cache_bytes(uint32_t n_ctx) const;
  // Weights + KV cache + an allowance for compute buffers.
  uint64_t estimate_memory_bytes(uint32_t n_ctx) const;
};

// Reads and checks the file's header. Throws a4ps::Error: kNotFound (no such file),
// kInvalidArgument (not a GGUF file, or a GGUF without the metadata a model needs),
// kDataLoss (the file is shorter than its tensor table says: truncated).
GgufInfo inspect_gguf(const std::filesystem::path& path);

// Checks that `adapter` is a LoRA adapter llama.cpp can apply to the model `base` describes:
// a GGUF of general.type "adapter" and adapter.type "lora" for the same architecture, every
// lora_a/lora_b pair targeting a tensor the base has, with matching shapes. Throws a4ps::Error
// kNotFound, kInvalidArgument (naming the mismatch) or kDataLoss (truncated).
void check_lora_matches(const std::filesystem::path& adapter, const GgufInfo& base);

}  // namespace a4ps::llm
