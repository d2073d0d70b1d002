// evolve/dataset: a persona's golden turns as a versioned chat dataset,
// IMAGE/datasets/PERSONA/vN/ (docs/formats/evolve.md): train.jsonl and held_out.jsonl (system =
// the persona's codex prompt the turn was spoken under, user = the turn's input, assistant =
// its output), de-duplicated by content hash, and manifest.json naming the judgements and
// episodes they came from. The held-out split is frozen when a dataset is made: an example
// held out by an earlier version stays held out, so no version ever trains on it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "evolve/chat_jsonl.h"
#include "evolve/evolve_store.h"
#include "graph/checkpointer.h"
#include "persona/codex.h"

namespace a4ps::evolve {

inline constexpr int kDatasetFormatVersion = 1;

std::filesystem::path dataset_dir(const std::filesystem::path& image_dir,
                                  const std::string& persona, std::int64_t version);

struct DatasetBuild {
  DatasetRecord record;
  std::filesystem::path dir;
  std::int64_t duplicates = 0;
  std::int64_t skipped_other_codex = 0;  // spoken under a system prompt the codex no longer has
  std::int64_t skipped_incomplete = 0;   // cut by a deadline, or journaled without its input
};

// Makes the next dataset version of `persona` from all its golden judgements. Throws
// kFailedPrecondition when there are fewer than `min_examples` usable golden turns (saying
// how many there are and how many are needed), or when the examples cannot be split into a
// non-empty training and held-out part.
DatasetBuild build_dataset(EvolveStore& store, graph::Checkpointer& checkpointer,
                           const Persona& persona, const std::filesystem::path& image_dir,
                           double held_out_fraction, std::int64_t min_examples);

// A dataset version's two splits, read back. Throws kNotFound or kDataLoss (the files no
// longer match the SHA-256 the dataset was recorded with).
struct DatasetFiles {
  std::vector<ChatExample> train;
  std::vector<ChatExample> held_out;
};
DatasetFiles read_dataset(const std::filesystem::path& image_dir, const DatasetRecord& record);

}  // namespace a4ps::evolve
