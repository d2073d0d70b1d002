// evolve/train_checkpoint: the file that lets a killed training run resume — a GGUF holding
// the adapter's A and B, AdamW's two moments for each, the steps done and their losses, and
// the fingerprint of the run (base, examples, options) it belongs to. Written through a
// temporary file, fsynced and renamed, so a kill leaves the previous checkpoint or the new one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "evolve/lora.h"

namespace a4ps::evolve {

inline constexpr uint32_t kTrainCheckpointVersion = 1;

struct TrainState {
  uint64_t step = 0;  // optimizer steps done
  std::vector<float> step_losses;
  std::vector<double> epoch_evaluations;
};

// The AdamW moments, one pair per LoRA parameter (same order), on the device.
struct AdamMoments {
  std::vector<ggml_tensor*> m;
  std::vector<ggml_tensor*> v;
};

// Throws kInternal if the file cannot be written.
void write_train_checkpoint(const std::filesystem::path& path, const std::string& fingerprint,
                            const LoraWeights& lora, const AdamMoments& moments,
                            const TrainState& state);

// Reads the checkpoint into `lora` and `moments` and returns its state; std::nullopt-like
// false when `path` does not exist. Throws kFailedPrecondition when it is another run's
// (fingerprint), kDataLoss when it cannot be read or does not match the adapter's shapes.
bool read_train_checkpoint(const std::filesystem::path& path, const std::string& fingerprint,
                           LoraWeights& lora, AdamMoments& moments, TrainState& state);

}  // namespace a4ps::evolve
