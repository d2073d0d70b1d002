#include "evolve/evolve_store.h"

#include "core/error.h"
#include "image/sqlite.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

json parse_stored(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? json() : value;
}

std::string stored(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json verdicts_json(const std::vector<JudgeVerdict>& verdicts) {
  json out = json::array();
  for (const JudgeVerdict& v : verdicts) {
    json scores = json::array();
    for (const CriterionScore& c : v.scores) {
      scores.push_back({{"criterion", c.criterion}, {"score", c.score}, {"evidence", c.evidence}});
    }
    out.push_back({{"judge", v.judge}, {"model", v.model}, {"score", v.score}, {"scores", scores}});
  }
  return out;
}

std::vector<JudgeVerdict> verdicts_from(const json& doc) {
  std::vector<JudgeVerdict> out;
  if (!doc.is_array()) return out;
  for (const json& v : doc) {
    JudgeVerdict verdict;
    verdict.judge = v.value("judge", "");
    verdict.model = v.value("model", "");
    verdict.score = v.value("score", 0.0);
    for (const json& c : v.value("scores", json::array())) {
      verdict.scores.push_back(
          {c.value("criterion", ""), c.value("score", 0.0), c.value("evidence", "")});
    }
    out.push_back(std::move(verdict));
  }
  return out;
}

constexpr const char* kJudgementColumns =
    "id, run_id, thread_id, persona, codex_version, rubric_sha256, judges, score, uncertain,"
    " uncertain_reason, golden, turns, created_ms";

Judgement judgement_from(const sql::Query& q) {
  Judgement j;
  j.id = q.int64(0);
  j.run_id = q.text(1);
  j.thread_id = q.text(2);
  j.persona = q.text(3);
  j.codex_version = q.int64(4);
  j.rubric_sha256 = q.text(5);
  j.judges = verdicts_from(parse_stored(q.text(6)));
  j.score = q.real(7);
  j.uncertain = q.int64(8) != 0;
  j.uncertain_reason = q.text(9);
  j.golden = q.int64(10) != 0;
  j.turns = parse_stored(q.text(11));
  j.created_ms = q.int64(12);
  return j;
}

constexpr const char* kDatasetColumns =
    "persona, version, sha256, n_train, n_held_out, judgements, newest_judgement, created_ms";

DatasetRecord dataset_from(const sql::Query& q) {
  DatasetRecord d;
  d.persona = q.text(0);
  d.version = q.int64(1);
  d.sha256 = q.text(2);
  d.n_train = q.int64(3);
  d.n_held_out = q.int64(4);
  const json ids = parse_stored(q.text(5));
  if (ids.is_array()) {
    for (const json& id : ids) {
      if (id.is_number_integer()) d.judgements.push_back(id.get<std::int64_t>());
    }
  }
  d.newest_judgement = q.int64(6);
  d.created_ms = q.int64(7);
  return d;
}

constexpr const char* kAdapterColumns =
    "persona, version, dataset_version, trainer, base_model, sha256, options, step_losses,"
    " held_out_losses, status, created_ms";

AdapterStatus status_from(const std::string& name) {
  if (name == "adopted") return AdapterStatus::kAdopted;
  if (name == "rejected") return AdapterStatus::kRejected;
  if (name == "retired") return AdapterStatus::kRetired;
  return AdapterStatus::kCandidate;
}

template <typename T>
std::vector<T> numbers_from(const json& doc) {
  std::vector<T> out;
  if (!doc.is_array()) return out;
  for (const json& v : doc) {
    if (v.is_number()) out.push_back(v.get<T>());
  }
  return out;
}

AdapterRecord adapter_from(const sql::Query& q) {
  AdapterRecord a;
  a.persona = q.text(0);
  a.version = q.int64(1);
  a.dataset_version = q.int64(2);
  a.trainer = q.text(3);
  a.base_model = q.text(4);
  a.sha256 = q.text(5);
  a.options = parse_stored(q.text(6));
  a.step_losses = numbers_from<float>(parse_stored(q.text(7)));
  a.held_out_losses = numbers_from<double>(parse_stored(q.text(8)));
  a.status = status_from(q.text(9));
  a.created_ms = q.int64(10);
  return a;
}

constexpr const char* kDecisionColumns =
    "id, persona, version, action, baseline, figures, reason, decided_by, created_ms";

std::optional<std::int64_t> optional_int(const sql::Query& q, int column) {
  if (q.is_null(column)) return std::nullopt;
  return q.int64(column);
}

AdoptionDecision decision_from(const sql::Query& q) {
  AdoptionDecision d;
  d.id = q.int64(0);
  d.persona = q.text(1);
  d.version = optional_int(q, 2);
  d.action = q.text(3);
  d.baseline = optional_int(q, 4);
  d.figures = parse_stored(q.text(5));
  d.reason = q.text(6);
  d.decided_by = q.text(7);
  d.created_ms = q.int64(8);
  return d;
}

}  // namespace

json to_json(const Judgement& j) {
  return {{"id", j.id},
          {"run_id", j.run_id},
          {"thread_id", j.thread_id},
          {"persona", j.persona},
          {"codex_version", j.codex_version},
          {"rubric_sha256", j.rubric_sha256},
          {"judges", verdicts_json(j.judges)},
          {"score", j.score},
          {"uncertain", j.uncertain},
          {"uncertain_reason", j.uncertain_reason},
          {"golden", j.golden},
          {"turns", j.turns},
          {"created_ms", j.created_ms}};
}

json to_json(const DatasetRecord& d) {
  return {{"persona", d.persona},      {"version", d.version},       {"sha256", d.sha256},
          {"n_train", d.n_train},      {"n_held_out", d.n_held_out}, {"judgements", d.judgements},
          {"created_ms", d.created_ms}};
}

json to_json(const AdapterRecord& a) {
  return {{"persona", a.persona},
          {"version", a.version},
          {"dataset_version", a.dataset_version},
          {"trainer", a.trainer},
          {"base_model", a.base_model},
          {"sha256", a.sha256},
          {"options", a.options},
          {"step_losses", a.step_losses},
          {"held_out_losses", a.held_out_losses},
          {"status", adapter_status_name(a.status)},
          {"created_ms", a.created_ms}};
}

json to_json(const AdoptionDecision& d) {
  return {{"id", d.id},
          {"persona", d.persona},
          {"version", d.version ? json(*d.version) : json(nullptr)},
          {"action", d.action},
          {"baseline", d.baseline ? json(*d.baseline) : json(nullptr)},
          {"figures", d.figures},
          {"reason", d.reason},
          {"decided_by", d.decided_by},
          {"created_ms", d.created_ms}};
}

std::string_view adapter_status_name(AdapterStatus status) {
  switch (status) {
    case AdapterStatus::kCandidate:
      return "candidate";
    case AdapterStatus::kAdopted:
      return "adopted";
    case AdapterStatus::kRejected:
      return "rejected";
    case AdapterStatus::kRetired:
      return "retired";
  }
  return "candidate";
}

namespace {

void require_evolve_tables(sql::Database& db, const std::filesystem::path& state_db) {
  auto q =
      db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'adoptions'");
  const bool migrated = q.step() && q.int64(0) > 0;
  if (!migrated) {
    throw Error(
        ErrorCode::kFailedPrecondition,
        state_db.string() +
            ": has no strategic-loop tables (schema older than 6); open the image to migrate it");
  }
}

}  // namespace

std::unique_ptr<EvolveStore> EvolveStore::open_read_only(const std::filesystem::path& state_db) {
  auto db = sql::Database::open(state_db.string(), sql::OpenMode::kReadOnly);
  require_evolve_tables(*db, state_db);
  return std::unique_ptr<EvolveStore>(new EvolveStore(std::move(db), system_clock()));
}

std::unique_ptr<EvolveStore> EvolveStore::open(const std::filesystem::path& state_db,
                                               const Clock& clock) {
  auto db = sql::Database::open(state_db.string());
  require_evolve_tables(*db, state_db);
  return std::unique_ptr<EvolveStore>(new EvolveStore(std::move(db), clock));
}

EvolveStore::EvolveStore(std::unique_ptr<sql::Database> db, const Clock& clock)
    : db_(std::move(db)), clock_(clock) {}
EvolveStore::~EvolveStore() = default;

bool EvolveStore::has_judgement(const std::string& run_id, const std::string& persona,
                                const std::string& rubric_sha256) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT 1 FROM judgements WHERE run_id = ? AND persona = ? AND rubric_sha256 = ?");
  q.bind(1, run_id).bind(2, persona).bind(3, rubric_sha256);
  return q.step();
}

Judgement EvolveStore::add_judgement(Judgement j) {
  std::lock_guard lock(mu_);
  j.created_ms = clock_.now_ms();
  db_->prepare(
         "INSERT INTO judgements (run_id, thread_id, persona, codex_version, rubric_sha256,"
         " judges, score, uncertain, uncertain_reason, golden, turns, created_ms)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, j.run_id)
      .bind(2, j.thread_id)
      .bind(3, j.persona)
      .bind(4, j.codex_version)
      .bind(5, j.rubric_sha256)
      .bind(6, stored(verdicts_json(j.judges)))
      .bind_real(7, j.score)
      .bind(8, std::int64_t{j.uncertain ? 1 : 0})
      .bind(9, j.uncertain_reason)
      .bind(10, std::int64_t{j.golden ? 1 : 0})
      .bind(11, stored(j.turns))
      .bind(12, j.created_ms)
      .run();
  j.id = db_->last_insert_id();
  return j;
}

std::vector<Judgement> EvolveStore::judgements(const std::string& persona, bool golden_only,
                                               std::int64_t limit) {
  std::lock_guard lock(mu_);
  auto q =
      db_->prepare(std::string("SELECT ") + kJudgementColumns +
                   " FROM judgements WHERE (?1 = '' OR persona = ?1) AND (?2 = 0 OR golden = 1)"
                   " ORDER BY id DESC LIMIT ?3");
  q.bind(1, persona).bind(2, std::int64_t{golden_only ? 1 : 0}).bind(3, limit);
  std::vector<Judgement> out;
  while (q.step()) out.push_back(judgement_from(q));
  return out;
}

std::int64_t EvolveStore::count_judgements(const std::string& persona, bool golden_only) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT count(*) FROM judgements WHERE (?1 = '' OR persona = ?1) AND (?2 = 0 OR golden = 1)");
  q.bind(1, persona).bind(2, std::int64_t{golden_only ? 1 : 0});
  return q.step() ? q.int64(0) : 0;
}

std::int64_t EvolveStore::golden_since_last_dataset(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT count(*) FROM judgements WHERE persona = ?1 AND golden = 1 AND id >"
      " IFNULL((SELECT max(newest_judgement) FROM datasets WHERE persona = ?1), 0)");
  q.bind(1, persona);
  return q.step() ? q.int64(0) : 0;
}

DatasetRecord EvolveStore::add_dataset(DatasetRecord d) {
  std::lock_guard lock(mu_);
  d.created_ms = clock_.now_ms();
  json ids = json::array();
  for (std::int64_t id : d.judgements) ids.push_back(id);
  db_->prepare(
         "INSERT INTO datasets (persona, version, sha256, n_train, n_held_out, judgements,"
         " newest_judgement, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, d.persona)
      .bind(2, d.version)
      .bind(3, d.sha256)
      .bind(4, d.n_train)
      .bind(5, d.n_held_out)
      .bind(6, stored(ids))
      .bind(7, d.newest_judgement)
      .bind(8, d.created_ms)
      .run();
  return d;
}

std::vector<DatasetRecord> EvolveStore::datasets(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q =
      db_->prepare(std::string("SELECT ") + kDatasetColumns +
                   " FROM datasets WHERE ?1 = '' OR persona = ?1 ORDER BY persona, version DESC");
  q.bind(1, persona);
  std::vector<DatasetRecord> out;
  while (q.step()) out.push_back(dataset_from(q));
  return out;
}

std::optional<DatasetRecord> EvolveStore::dataset(const std::string& persona,
                                                  std::int64_t version) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(std::string("SELECT ") + kDatasetColumns +
                        " FROM datasets WHERE persona = ? AND version = ?");
  q.bind(1, persona).bind(2, version);
  if (!q.step()) return std::nullopt;
  return dataset_from(q);
}

std::int64_t EvolveStore::next_dataset_version(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare("SELECT IFNULL(max(version), 0) + 1 FROM datasets WHERE persona = ?");
  q.bind(1, persona);
  return q.step() ? q.int64(0) : 1;
}

AdapterRecord EvolveStore::add_adapter(AdapterRecord a) {
  std::lock_guard lock(mu_);
  a.created_ms = clock_.now_ms();
  db_->prepare(
         "INSERT INTO adapters (persona, version, dataset_version, trainer, base_model, sha256,"
         " options, step_losses, held_out_losses, status, created_ms)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, a.persona)
      .bind(2, a.version)
      .bind(3, a.dataset_version)
      .bind(4, a.trainer)
      .bind(5, a.base_model)
      .bind(6, a.sha256)
      .bind(7, stored(a.options))
      .bind(8, stored(json(a.step_losses)))
      .bind(9, stored(json(a.held_out_losses)))
      .bind(10, adapter_status_name(a.status))
      .bind(11, a.created_ms)
      .run();
  return a;
}

std::vector<AdapterRecord> EvolveStore::adapters(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q =
      db_->prepare(std::string("SELECT ") + kAdapterColumns +
                   " FROM adapters WHERE ?1 = '' OR persona = ?1 ORDER BY persona, version DESC");
  q.bind(1, persona);
  std::vector<AdapterRecord> out;
  while (q.step()) out.push_back(adapter_from(q));
  return out;
}

std::optional<AdapterRecord> EvolveStore::adapter(const std::string& persona,
                                                  std::int64_t version) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(std::string("SELECT ") + kAdapterColumns +
                        " FROM adapters WHERE persona = ? AND version = ?");
  q.bind(1, persona).bind(2, version);
  if (!q.step()) return std::nullopt;
  return adapter_from(q);
}

std::int64_t EvolveStore::next_adapter_version(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare("SELECT IFNULL(max(version), 0) + 1 FROM adapters WHERE persona = ?");
  q.bind(1, persona);
  return q.step() ? q.int64(0) : 1;
}

AdoptionDecision EvolveStore::decide(AdoptionDecision d) {
  std::lock_guard lock(mu_);
  d.created_ms = clock_.now_ms();
  sql::Transaction tx(*db_);
  db_->prepare(
         "INSERT INTO adoption_decisions (persona, version, action, baseline, figures, reason,"
         " decided_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, d.persona)
      .bind(2, d.version)
      .bind(3, d.action)
      .bind(4, d.baseline)
      .bind(5, stored(d.figures))
      .bind(6, d.reason)
      .bind(7, d.decided_by)
      .bind(8, d.created_ms)
      .run();
  d.id = db_->last_insert_id();
  if (d.action == "reject" && d.version) {
    db_->prepare("UPDATE adapters SET status = 'rejected' WHERE persona = ? AND version = ?")
        .bind(1, d.persona)
        .bind(2, *d.version)
        .run();
  } else if (d.action == "adopt" || d.action == "rollback") {
    // The adapter in use is 'adopted'; one that was and no longer is, 'retired'.
    db_->prepare("UPDATE adapters SET status = 'retired' WHERE persona = ? AND status = 'adopted'")
        .bind(1, d.persona)
        .run();
    if (d.version) {
      db_->prepare("UPDATE adapters SET status = 'adopted' WHERE persona = ? AND version = ?")
          .bind(1, d.persona)
          .bind(2, *d.version)
          .run();
    }
    db_->prepare(
           "INSERT INTO adoptions (persona, version, decision_id, updated_ms) VALUES (?, ?, ?, ?)"
           " ON CONFLICT (persona) DO UPDATE SET version = excluded.version,"
           " decision_id = excluded.decision_id, updated_ms = excluded.updated_ms")
        .bind(1, d.persona)
        .bind(2, d.version)
        .bind(3, d.id)
        .bind(4, d.created_ms)
        .run();
  }
  tx.commit();
  return d;
}

std::vector<AdoptionDecision> EvolveStore::decisions(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(std::string("SELECT ") + kDecisionColumns +
                        " FROM adoption_decisions WHERE ?1 = '' OR persona = ?1 ORDER BY id DESC");
  q.bind(1, persona);
  std::vector<AdoptionDecision> out;
  while (q.step()) out.push_back(decision_from(q));
  return out;
}

std::optional<std::int64_t> EvolveStore::adopted(const std::string& persona) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare("SELECT version FROM adoptions WHERE persona = ?");
  q.bind(1, persona);
  if (!q.step() || q.is_null(0)) return std::nullopt;
  return q.int64(0);
}

}  // namespace a4ps::evolve
