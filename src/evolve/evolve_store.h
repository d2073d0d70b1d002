// evolve/evolve_store: the strategic loop's records in state.db (schema version 6,
// docs/formats/state-db.md): the Oracle's judgements, the datasets made from golden ones, the
// adapters trained on them, every adoption decision with its figures, and which adapter each
// persona uses now. Thread-safe: one connection behind a mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace a4ps::sql {
class Database;
}

namespace a4ps::evolve {

struct CriterionScore {
  std::string criterion;
  double score = 0;      // 0..1
  std::string evidence;  // a quote from the judged turns ("" when none was given)
};

struct JudgeVerdict {
  std::string judge;  // the judging persona ("ALFRED")
  std::string model;  // its model's [models] name
  std::vector<CriterionScore> scores;
  double score = 0;  // the mean over the criteria
};

// One persona's part in one finished episode (a workflow run), judged.
struct Judgement {
  std::int64_t id = 0;
  std::string run_id;
  std::string thread_id;
  std::string persona;
  std::int64_t codex_version = 1;
  std::string rubric_sha256;
  std::vector<JudgeVerdict> judges;
  double score = 0;  // the mean over the judges
  bool uncertain = false;
  std::string uncertain_reason;
  bool golden = false;
  // The turns judged, each {"checkpoint", "node", "key"} of its journal entry.
  nlohmann::json turns = nlohmann::json::array();
  std::int64_t created_ms = 0;
};

struct DatasetRecord {
  std::string persona;
  std::int64_t version = 0;
  std::string sha256;
  std::int64_t n_train = 0;
  std::int64_t n_held_out = 0;
  std::vector<std::int64_t> judgements;
  std::int64_t newest_judgement = 0;
  std::int64_t created_ms = 0;
};

enum class AdapterStatus { kCandidate, kAdopted, kRejected, kRetired };
std::string_view adapter_status_name(AdapterStatus status);

struct AdapterRecord {
  std::string persona;
  std::int64_t version = 0;
  std::int64_t dataset_version = 0;
  std::string trainer;     // "a4ps" or "external"
  std::string base_model;  // the [models] name it was trained over
  std::string sha256;      // of adapter.gguf
  nlohmann::json options = nlohmann::json::object();
  std::vector<float> step_losses;
  std::vector<double> held_out_losses;  // after each epoch (a4ps trainer), else after training
  AdapterStatus status = AdapterStatus::kCandidate;
  std::int64_t created_ms = 0;
};

struct AdoptionDecision {
  std::int64_t id = 0;
  std::string persona;
  std::optional<std::int64_t> version;   // the adapter decided on; nullopt: the base
  std::string action;                    // adopt, reject, rollback
  std::optional<std::int64_t> baseline;  // what it was compared with or rolled back from
  nlohmann::json figures = nlohmann::json::object();
  std::string reason;
  std::string decided_by;  // "gate" or "user"
  std::int64_t created_ms = 0;
};

// The JSON shapes of the records, as the API serves them (docs/http-api.md).
nlohmann::json to_json(const Judgement& judgement);
nlohmann::json to_json(const DatasetRecord& dataset);
nlohmann::json to_json(const AdapterRecord& adapter);
nlohmann::json to_json(const AdoptionDecision& decision);

class EvolveStore {
 public:
  // Opens the tables of a migrated state.db. Throws kUnavailable, or kFailedPrecondition for a
  // schema older than 6.
  static std::unique_ptr<EvolveStore> open(const std::filesystem::path& state_db,
                                           const Clock& clock = system_clock());
  // For reading only: works while another process holds the image.
  static std::unique_ptr<EvolveStore> open_read_only(const std::filesystem::path& state_db);
  ~EvolveStore();

  bool has_judgement(const std::string& run_id, const std::string& persona,
                     const std::string& rubric_sha256);
  Judgement add_judgement(Judgement judgement);
  // Newest first; persona "" means every persona.
  std::vector<Judgement> judgements(const std::string& persona, bool golden_only,
                                    std::int64_t limit);
  std::int64_t count_judgements(const std::string& persona, bool golden_only);
  // Golden judgements of `persona` newer than those its latest dataset holds.
  std::int64_t golden_since_last_dataset(const std::string& persona);

  DatasetRecord add_dataset(DatasetRecord dataset);
  std::vector<DatasetRecord> datasets(const std::string& persona);  // newest first
  std::optional<DatasetRecord> dataset(const std::string& persona, std::int64_t version);
  std::int64_t next_dataset_version(const std::string& persona);

  AdapterRecord add_adapter(AdapterRecord adapter);
  std::vector<AdapterRecord> adapters(const std::string& persona);  // newest first
  std::optional<AdapterRecord> adapter(const std::string& persona, std::int64_t version);
  std::int64_t next_adapter_version(const std::string& persona);

  // Stores the decision; an adopt or a rollback also moves the persona's pointer to
  // decision.version (and marks adapter statuses), all in one transaction.
  AdoptionDecision decide(AdoptionDecision decision);
  std::vector<AdoptionDecision> decisions(const std::string& persona);  // newest first
  // The adapter version `persona` uses; nullopt: its base model alone.
  std::optional<std::int64_t> adopted(const std::string& persona);

 private:
  EvolveStore(std::unique_ptr<sql::Database> db, const Clock& clock);
  std::mutex mu_;
  std::unique_ptr<sql::Database> db_;  // protected by mu_
  const Clock& clock_;
};

}  // namespace a4ps::evolve
