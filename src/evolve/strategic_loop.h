// evolve/strategic_loop: the strategic loop of DESIGN.md section 7 over one image — judge
// finished episodes (Oracle), make a persona's dataset from its golden turns, train a
// candidate adapter (A4PS's own trainer, or [evolve] trainer_command), evaluate it on the
// held-out split against the adapter in use (or the base), adopt it only when the gate says it
// is better by [evolve] min_improvement, and roll back in one step. Every decision is kept
// with its figures. Adapters live in IMAGE/adapters/PERSONA/vN/ (docs/formats/evolve.md), and
// one whose file no longer has its recorded SHA-256 is refused wherever it would be used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/config.h"
#include "evolve/base_model.h"
#include "evolve/chat_jsonl.h"
#include "evolve/dataset.h"
#include "evolve/evolve_store.h"
#include "evolve/oracle.h"
#include "evolve/trainer.h"
#include "graph/checkpointer.h"
#include "persona/codex.h"
#include "persona/speaker.h"

namespace a4ps::evolve {

inline constexpr int kAdapterManifestVersion = 1;

struct StrategicDeps {
  std::filesystem::path image_dir;
  EvolveConfig config;
  const Codex* codex = nullptr;  // the codex as loaded, without adopted adapters applied
  graph::Checkpointer* checkpointer = nullptr;
  // The judges' voice (made on first use: judging loads the judges' models).
  std::function<persona::Speaker&()> speaker;
  // The local GGUF file of a persona's model; throws kFailedPrecondition for a model served
  // by Ollama or an OpenAI-compatible server (nothing A4PS can train).
  std::function<std::filesystem::path(const Persona&)> local_model;
  // The persona's reply to a prompt with `adapter` applied (nullopt: its base), for the
  // pairwise check of the gate. Optional: without it, the check is skipped and says so.
  std::function<std::string(const Persona&, const ChatExample&, std::optional<llm::LoraAdapter>)>
      reply;
  int32_t threads = 0;
};

struct GateResult {
  std::string persona;
  std::int64_t version = 0;
  std::optional<std::int64_t> baseline;  // the adapter compared against; nullopt: the base
  nlohmann::json figures;                // n, mean_improvement, ci_low, ci_high, ... win_rate
  bool passes = false;
  std::string reason;
};

class StrategicLoop {
 public:
  // Opens the image's evolve tables (kFailedPrecondition before schema 6).
  explicit StrategicLoop(StrategicDeps deps);

  EvolveStore& store() { return *store_; }
  // The codex as loaded (no adopted adapter applied): usable when an adapter file is refused.
  const Codex& codex() const { return *deps_.codex; }
  static std::filesystem::path adapter_dir(const std::filesystem::path& image_dir,
                                           const std::string& persona, std::int64_t version);

  JudgeReport judge(const std::string& run_id, std::int64_t limit,
                    const std::function<void(const Judgement&)>& on_judgement);
  DatasetBuild make_dataset(const std::string& persona);
  // Trains a candidate on a dataset version (latest by default). Throws kFailedPrecondition
  // (no dataset yet; a model that is not a local GGUF), what the trainer throws, and for an
  // external trainer kUnavailable / kDeadlineExceeded / kDataLoss (it failed, ran past
  // [evolve] trainer_timeout_seconds, or wrote something that is not an adapter for the base).
  AdapterRecord train(const std::string& persona, std::optional<std::int64_t> dataset_version,
                      const TrainProgressFn& on_progress);
  // The gate's figures for a candidate, without deciding.
  GateResult evaluate(const std::string& persona, std::int64_t version);
  // Runs the gate and records its decision: adopt (the persona uses the adapter from its next
  // turn on) or reject.
  AdoptionDecision adopt(const std::string& persona, std::int64_t version);
  // Points the persona back at `to` (an adapter version; nullopt with to_base false: what the
  // current adoption replaced). Throws kFailedPrecondition when there is nothing to roll back.
  AdoptionDecision rollback(const std::string& persona, std::optional<std::int64_t> to,
                            bool to_base);
  // The adapter the persona uses now, its file checked against its SHA-256 (kDataLoss if it
  // no longer matches); nullopt: the base model alone.
  std::optional<llm::LoraAdapter> adopted_adapter(const std::string& persona);
  // The same for an image this process does not hold (state.db opened for reading only);
  // nullopt too when the image's schema predates the strategic loop.
  static std::optional<llm::LoraAdapter> adopted_adapter_in(const std::filesystem::path& image_dir,
                                                            const std::string& persona);
  // Each persona's figures: golden turns, datasets, candidates, the adapter in use.
  nlohmann::json status();

 private:
  const Persona& persona(const std::string& id_or_name) const;
  const AdapterRecord& verified(const AdapterRecord& record) const;
  void train_externally(const Persona& p, const std::filesystem::path& base, const BaseModel& model,
                        const ComputeDevice& device, const std::filesystem::path& dir,
                        const std::filesystem::path& dataset);
  nlohmann::json pairwise_check(const Persona& p, const std::vector<ChatExample>& prompts,
                                std::optional<std::int64_t> baseline, std::int64_t version);

  StrategicDeps deps_;
  std::unique_ptr<EvolveStore> store_;
};

}  // namespace a4ps::evolve
