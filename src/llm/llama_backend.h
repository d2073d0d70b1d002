// llm/llama_backend: the embedded llama.cpp engine. The only file of A4PS that includes
// llama.h. A LlamaBackend owns one loaded model and one context; it validates everything a
// user can get wrong (file, shape, prompt length, schema) before llama.cpp sees it, so bad
// input is an a4ps::Error, never an abort.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llm/backend.h"
#include "llm/gguf_info.h"
#include "llm/prefix_cache.h"
#include "llm/test_model.h"

namespace a4ps::llm {

struct LlamaLoadParams {
  std::filesystem::path path;
  uint32_t n_ctx = 4096;     // tokens; 0: the model's trained context length
  uint32_t n_batch = 512;    // prompt tokens evaluated per batch
  int32_t n_threads = 0;     // 0: one per hardware thread
  int32_t n_gpu_layers = 0;  // -1: all
  bool use_mmap = true;
  ModelPurpose purpose = ModelPurpose::kGenerate;
  // F32 key/value cache and no flash attention: logits to hold an independent implementation
  // (the LoRA trainer's forward pass) against, not for serving.
  bool reference_precision = false;
  // Only the tokenizer and chat template: no weights, no context. chat(), embed() and
  // sequence_logits() then fail with kFailedPrecondition.
  bool vocab_only = false;
  // Called with 0..1 while the weights load; returning false cancels the load.
  std::function<bool(float progress)> on_progress;
};

struct TrainingTokens {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> target;  // parallel to tokens: 1 where the token is trained on
};

// Thread-compatible, not thread-safe: one thread at a time drives an instance (llama.cpp's
// rule for a llama_context).
class LlamaBackend final : public Backend {
 public:
  // Loads the model and creates its context. Throws a4ps::Error: kNotFound (no file),
  // kInvalidArgument (not a GGUF model, unsupported architecture, bad parameters), kDataLoss
  // (truncated file), kResourceExhausted (the context cannot be allocated), kCancelled
  // (on_progress returned false).
  static std::unique_ptr<LlamaBackend> create(const LlamaLoadParams& params);
  ~LlamaBackend() override;

  ChatResult chat(const ChatRequest& request) override;
  std::vector<float> embed(std::string_view text) override;
  int32_t embedding_size() const override;
  int32_t count_tokens(std::string_view text) const override;
  int32_t context_size() const override;

  // The conversation rendered through the model's chat template, ready to tokenize.
  // Throws kInvalidArgument if llama.cpp does not know the model's template.
  std::string render_prompt(const std::vector<ChatMessage>& messages) const;

  // Shares `cache` for the system-prompt prefix of every chat; `key` identifies this model
  // file, its adapters and settings (entries of another key are never used). nullptr: none.
  void set_prefix_cache(std::shared_ptr<PrefixCache> cache, std::string key);

  // A conversation as a trainer sees it: all of it through the model's chat template,
  // tokenized; target[i] is 1 for the tokens of the last message (which must be the
  // assistant's) and 0 for the prompt before it. Throws kInvalidArgument when the last message
  // is not the assistant's, or the template does not render the prompt as a prefix of the
  // whole (the reply's tokens could not be told apart).
  TrainingTokens training_tokens(const std::vector<ChatMessage>& messages) const;

  // The logits at every position of `tokens`, row after row (n_tokens × vocab_size()), with
  // `adapters` applied; the context is cleared first. Throws kInvalidArgument for an empty
  // sequence or one longer than the context.
  std::vector<float> sequence_logits(const std::vector<int32_t>& tokens,
                                     const std::vector<LoraAdapter>& adapters);
  int32_t vocab_size() const;

  const GgufInfo& info() const;
  double load_ms() const;
  // What llama.cpp reported allocating for the weights, KV cache, output and compute buffers
  // (mapped weights included); 0 if it reported nothing.
  uint64_t allocated_bytes() const;
  int32_t threads() const;

 private:
  struct Impl;
  explicit LlamaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// llama.cpp's build and system description, e.g. for `a4ps --version`.
std::string llama_system_info();
// Whether this build of llama.cpp can offload layers to a GPU.
bool llama_gpu_offload_supported();

}  // namespace a4ps::llm
