// llm/test_model: writes tiny llama-architecture GGUF models with random weights drawn from a
// seed and a real tokenizer (and chat template) copied from one of llama.cpp's bundled
// models/ggml-vocab-*.gguf files. Tests and the demo run on these; what they say is gibberish
// by nature, but every code path from tokenizer to sampler is the real one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace a4ps::llm {

enum class WeightType { kF32, kF16, kQ8_0 };

// "f32" | "f16" | "q8_0"; throws kInvalidArgument otherwise.
WeightType parse_weight_type(const std::string& name);

enum class ModelPurpose {
  kGenerate,  // a causal language model
  kEmbed,     // the same, with mean pooling set, so llama.cpp returns pooled embeddings
};

struct TestModelSpec {
  uint64_t seed = 1;
  // A vocab name ("phi-3" for models/ggml-vocab-phi-3.gguf) or a path to a GGUF file.
  std::string vocab = "phi-3";
  uint32_t n_layer = 2;
  uint32_t n_embd = 64;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 4;
  uint32_t n_ff = 128;
  uint32_t n_ctx = 4096;
  WeightType type = WeightType::kF32;
  ModelPurpose purpose = ModelPurpose::kGenerate;
};

// Where vocab names are looked up: $A4PS_VOCAB_DIR if set, else the models/ folder of the
// llama.cpp source this binary was built from.
std::filesystem::path default_vocab_dir();

// Names of the vocabularies in `dir` (for `--help` and error messages).
std::vector<std::string> available_vocabs(const std::filesystem::path& dir);

// Writes the model to `out` (through a temporary file renamed into place, so a reader never
// sees half a file). The same spec gives a byte-identical file. Throws a4ps::Error:
// kInvalidArgument for an impossible shape (n_embd not divisible by n_head, ...), kNotFound for
// an unknown vocab, kInternal if the file cannot be written.
void write_test_model(const TestModelSpec& spec, const std::filesystem::path& out);

// Writes a LoRA adapter (GGUF, rank `rank`, random weights from `seed`) for the model `base`
// describes: it adapts every layer's attn_q and attn_v. Throws like write_test_model, and
// kInvalidArgument for a rank outside 1..n_embd.
void write_test_lora(const TestModelSpec& base, uint64_t seed, uint32_t rank,
                     const std::filesystem::path& out);

// Parameters the spec's model has (for progress messages and benchmarks).
uint64_t test_model_parameter_count(const TestModelSpec& spec, uint32_t vocab_size);

}  // namespace a4ps::llm
