// evolve/trainer: A4PS's own LoRA trainer. Over a frozen base (BaseModel) it trains the F32
// A and B of a LoraWeights with AdamW on chat examples, the loss being the mean cross-entropy
// of the assistant's tokens only (the prompt's tokens are context, never targets). One example
// is one optimizer step; its gradients are computed afresh by each step's graph (nothing
// accumulates across steps). The order of examples comes from the seed alone, so a run is
// deterministic, and a checkpoint (the adapter, the AdamW moments and the step) lets a killed
// run resume where it was and end exactly where an uninterrupted one would.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "evolve/base_model.h"
#include "evolve/lora.h"
#include "llm/llama_backend.h"

namespace a4ps::evolve {

struct TrainOptions {
  LoraOptions lora;
  uint32_t epochs = 3;
  float learning_rate = 1e-3f;
  float weight_decay = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  uint64_t seed = 1;
  uint32_t max_tokens = 1024;        // an example longer than this is refused
  std::filesystem::path checkpoint;  // empty: no checkpoint, no resume
  uint32_t checkpoint_every = 20;    // steps
  // Called with the adapter as it stands after each epoch; what it returns (the held-out
  // loss, say) is kept in TrainReport::epoch_evaluations and in the checkpoint. Optional.
  std::function<double(const LoraWeights&)> evaluate_epoch;
};

// Throws kInvalidArgument naming the first option out of range.
void validate_train_options(const TrainOptions& options);

struct TrainProgress {
  uint64_t step = 0;  // steps done, 1-based after the first
  uint64_t total_steps = 0;
  uint32_t epoch = 0;  // 1-based
  uint32_t epochs = 0;
  double loss = 0;  // of this step's example
  double tokens_per_second = 0;
  double eta_seconds = 0;
};

struct TrainReport {
  uint64_t steps = 0;
  uint64_t resumed_at_step = 0;           // 0: started fresh
  std::vector<float> step_losses;         // every step's, resumed steps included
  std::vector<float> epoch_losses;        // the mean over each finished epoch
  std::vector<double> epoch_evaluations;  // TrainOptions::evaluate_epoch after each epoch
  uint64_t tokens = 0;                    // processed by this process
  double seconds = 0;                     // spent by this process
  uint64_t parameters = 0;
};

// Called after every step; returning false cancels (the checkpoint is written first).
using TrainProgressFn = std::function<bool(const TrainProgress&)>;

class LoraTrainer {
 public:
  // Checks `options` (validate_train_options). `base` and `device` must outlive the trainer.
  LoraTrainer(const BaseModel& base, const ComputeDevice& device, TrainOptions options);

  // Trains over `examples` and writes the adapter GGUF to `out` (with `metadata` as a4ps.*
  // string keys). With a checkpoint file of this same run (base, examples and options), it
  // resumes from it; the checkpoint is removed once the adapter is in place. Throws
  // kInvalidArgument (no examples; an example without target tokens, longer than max_tokens,
  // or with a token outside the vocabulary), kFailedPrecondition (the checkpoint belongs to
  // another run), kDataLoss (an unreadable checkpoint), kCancelled (on_progress returned
  // false: the checkpoint, when configured, resumes it).
  TrainReport train(const std::vector<llm::TrainingTokens>& examples,
                    const std::filesystem::path& out,
                    const std::map<std::string, std::string>& metadata,
                    const TrainProgressFn& on_progress);

 private:
  const BaseModel& base_;
  const ComputeDevice& device_;
  TrainOptions options_;
};

// Each example's mean cross-entropy over its target tokens, with `lora` applied (nullptr: the
// base alone). Throws like LoraTrainer::train for a bad example.
std::vector<double> example_losses(const BaseModel& base, const LoraWeights* lora,
                                   const ComputeDevice& device,
                                   const std::vector<llm::TrainingTokens>& examples);

// The logits of our forward pass at every position (n_tokens × n_vocab, row after row).
std::vector<float> forward_logits(const BaseModel& base, const LoraWeights* lora,
                                  const ComputeDevice& device, const std::vector<int32_t>& tokens);

// One example's loss and the gradient of each of lora.parameters() (same order, flattened),
// for checking the backward pass against finite differences.
struct LossAndGradients {
  double loss = 0;
  std::vector<std::vector<float>> gradients;
};
LossAndGradients loss_and_gradients(const BaseModel& base, const LoraWeights& lora,
                                    const ComputeDevice& device,
                                    const llm::TrainingTokens& example);

}  // namespace a4ps::evolve
