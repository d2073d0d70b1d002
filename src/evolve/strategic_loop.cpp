#include "evolve/strategic_loop.h"

#include <gguf.h>

#include <algorithm>
#include <system_error>

#include "core/child_process.h"
#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "evolve/base_model.h"
#include "evolve/gate.h"
#include "evolve/lora.h"
#include "llm/gguf_info.h"
#include "llm/llama_backend.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

constexpr size_t kPairwisePrompts = 8;

std::string file_sha256(const std::filesystem::path& path) {
  return sha256_hex(read_file(path));
}

// Whether `path` is a model `a4ps models mktest` generated (random weights): judging with it
// says nothing, so the gate's pairwise check is skipped for such a judge.
bool is_generated_model(const std::filesystem::path& path) {
  gguf_context* meta = gguf_init_from_file(path.string().c_str(), {/*no_alloc=*/true, nullptr});
  if (meta == nullptr) return false;
  const bool generated = gguf_find_key(meta, "a4ps.test_model.seed") >= 0;
  gguf_free(meta);
  return generated;
}

std::unique_ptr<llm::LlamaBackend> open_tokenizer(const std::filesystem::path& base) {
  llm::LlamaLoadParams params;
  params.path = base;
  params.vocab_only = true;
  return llm::LlamaBackend::create(params);
}

// The examples that fit the trainer's limit (longer ones are left out and counted).
std::vector<llm::TrainingTokens> fitting(std::vector<llm::TrainingTokens> all, int64_t max_tokens,
                                         int64_t& left_out) {
  std::vector<llm::TrainingTokens> out;
  for (auto& e : all) {
    if (static_cast<int64_t>(e.tokens.size()) <= max_tokens) {
      out.push_back(std::move(e));
    } else {
      ++left_out;
    }
  }
  return out;
}

std::string version_name(std::optional<std::int64_t> version) {
  return version ? "v" + std::to_string(*version) : std::string("the base model");
}

}  // namespace

StrategicLoop::StrategicLoop(StrategicDeps deps)
    : deps_(std::move(deps)), store_(EvolveStore::open(deps_.image_dir / "state.db")) {}

std::filesystem::path StrategicLoop::adapter_dir(const std::filesystem::path& image_dir,
                                                 const std::string& persona, std::int64_t version) {
  return image_dir / "adapters" / persona / ("v" + std::to_string(version));
}

const Persona& StrategicLoop::persona(const std::string& id_or_name) const {
  return deps_.codex->persona(id_or_name);
}

namespace {

// Throws kDataLoss unless the adapter file of `record` is there with its recorded SHA-256.
void verify_adapter_file(const std::filesystem::path& image_dir, const AdapterRecord& record) {
  const std::filesystem::path file =
      StrategicLoop::adapter_dir(image_dir, record.persona, record.version) / "adapter.gguf";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw Error(ErrorCode::kDataLoss, file.string() + ": the adapter file of " + record.persona +
                                          " v" + std::to_string(record.version) + " is missing");
  }
  if (file_sha256(file) != record.sha256) {
    throw Error(ErrorCode::kDataLoss,
                file.string() + ": does not match the SHA-256 recorded for " + record.persona +
                    " v" + std::to_string(record.version) +
                    " (changed or damaged); it is refused — roll back with `a4ps evolve "
                    "rollback " +
                    record.persona + "` or train again");
  }
}

}  // namespace

const AdapterRecord& StrategicLoop::verified(const AdapterRecord& record) const {
  verify_adapter_file(deps_.image_dir, record);
  return record;
}

std::optional<llm::LoraAdapter> StrategicLoop::adopted_adapter_in(
    const std::filesystem::path& image_dir, const std::string& persona) {
  std::unique_ptr<EvolveStore> store;
  try {
    store = EvolveStore::open_read_only(image_dir / "state.db");
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kFailedPrecondition) return std::nullopt;
    throw;
  }
  const std::optional<std::int64_t> version = store->adopted(persona);
  if (!version) return std::nullopt;
  const auto record = store->adapter(persona, *version);
  if (!record)
    throw Error(ErrorCode::kDataLoss, persona + " is pointed at adapter v" +
                                          std::to_string(*version) + ", which has no record");
  verify_adapter_file(image_dir, *record);
  return llm::LoraAdapter{(adapter_dir(image_dir, persona, *version) / "adapter.gguf").string(),
                          1.0f};
}

JudgeReport StrategicLoop::judge(const std::string& run_id, std::int64_t limit,
                                 const std::function<void(const Judgement&)>& on_judgement) {
  Oracle oracle(deps_.speaker(), *deps_.codex, deps_.config);
  return judge_episodes(oracle, *store_, *deps_.checkpointer, *deps_.codex, run_id, limit,
                        on_judgement);
}

DatasetBuild StrategicLoop::make_dataset(const std::string& id) {
  return build_dataset(*store_, *deps_.checkpointer, persona(id), deps_.image_dir,
                       deps_.config.held_out_fraction, deps_.config.min_examples);
}

void StrategicLoop::train_externally(const Persona& p, const std::filesystem::path& base,
                                     const BaseModel& model, const ComputeDevice& device,
                                     const std::filesystem::path& dir,
                                     const std::filesystem::path& dataset) {
  const std::filesystem::path out = dir / "adapter.gguf";
  const std::filesystem::path log = dir / "trainer.log";
  std::string targets;
  for (const std::string& t : deps_.config.lora_targets)
    targets += (targets.empty() ? "" : ",") + t;
  const ChildResult r = run_child({"/bin/sh", "-c", deps_.config.trainer_command},
                                  {{"A4PS_TRAIN_DATA", (dataset / "train.jsonl").string()},
                                   {"A4PS_HELD_OUT_DATA", (dataset / "held_out.jsonl").string()},
                                   {"A4PS_BASE_MODEL", base.string()},
                                   {"A4PS_ADAPTER_OUT", out.string()},
                                   {"A4PS_PERSONA", p.id},
                                   {"A4PS_LORA_RANK", std::to_string(deps_.config.lora_rank)},
                                   {"A4PS_LORA_ALPHA", std::to_string(deps_.config.lora_alpha)},
                                   {"A4PS_LORA_TARGETS", targets}},
                                  log, std::chrono::seconds(deps_.config.trainer_timeout_seconds));
  const std::string tail = log_tail(log, 600);
  const std::string said = tail.empty() ? "" : "; its log ends: " + tail;
  if (r.timed_out) {
    throw Error(ErrorCode::kDeadlineExceeded,
                "the external trainer ran past [evolve] trainer_timeout_seconds = " +
                    std::to_string(deps_.config.trainer_timeout_seconds) + " and was stopped" +
                    said);
  }
  if (r.exit_code != 0) {
    throw Error(ErrorCode::kUnavailable,
                "the external trainer failed (" +
                    (r.signal != 0 ? "signal " + std::to_string(r.signal)
                                   : "exit status " + std::to_string(r.exit_code)) +
                    ")" + said);
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(out, ec)) {
    throw Error(ErrorCode::kDataLoss,
                "the external trainer exited 0 but wrote no adapter at " + out.string() + said);
  }
  try {  // what llama.cpp would check, then a load through our own reader
    llm::check_lora_matches(out, llm::inspect_gguf(base));
    LoraWeights::load(out, model, device);
  } catch (const Error& e) {
    std::filesystem::remove(out, ec);
    throw Error(ErrorCode::kDataLoss,
                "the external trainer wrote something that is not a LoRA adapter for " +
                    base.string() + ": " + e.what());
  }
}

AdapterRecord StrategicLoop::train(const std::string& id,
                                   std::optional<std::int64_t> dataset_version,
                                   const TrainProgressFn& on_progress) {
  const Persona& p = persona(id);
  std::optional<DatasetRecord> dataset;
  if (dataset_version) {
    dataset = store_->dataset(p.id, *dataset_version);
    if (!dataset) throw_not_found(p.name + " has no dataset v" + std::to_string(*dataset_version));
  } else {
    const auto all = store_->datasets(p.id);
    if (all.empty()) {
      throw Error(ErrorCode::kFailedPrecondition,
                  p.name + " has no dataset yet; make one with `a4ps evolve dataset " + p.id + "`");
    }
    dataset = all.front();
  }
  const DatasetFiles files = read_dataset(deps_.image_dir, *dataset);  // checks its SHA-256
  const std::filesystem::path base = deps_.local_model(p);
  AdapterRecord record;
  record.persona = p.id;
  record.version = store_->next_adapter_version(p.id);
  record.dataset_version = dataset->version;
  record.base_model = p.model;
  const std::filesystem::path dir = adapter_dir(deps_.image_dir, p.id, record.version);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto tokenizer = open_tokenizer(base);
  int64_t left_out = 0;
  const auto held_out =
      fitting(tokenize_examples(*tokenizer, files.held_out), deps_.config.max_tokens, left_out);
  const auto device = ComputeDevice::create(deps_.threads);
  const auto model = BaseModel::load(base, *device);
  if (!deps_.config.trainer_command.empty()) {
    record.trainer = "external";
    record.options = {{"command", deps_.config.trainer_command},
                      {"log", (dir / "trainer.log").string()}};
    train_externally(p, base, *model, *device, dir,
                     dataset_dir(deps_.image_dir, p.id, dataset->version));
    const auto lora = LoraWeights::load(dir / "adapter.gguf", *model, *device);
    const auto losses = example_losses(*model, lora.get(), *device, held_out);
    double mean = 0;
    for (double l : losses) mean += l / static_cast<double>(std::max<size_t>(losses.size(), 1));
    record.held_out_losses = {mean};
  } else {
    record.trainer = "a4ps";
    TrainOptions options;
    options.lora.rank = static_cast<uint32_t>(deps_.config.lora_rank);
    options.lora.alpha = static_cast<float>(deps_.config.lora_alpha);
    options.lora.targets = deps_.config.lora_targets;
    options.epochs = static_cast<uint32_t>(deps_.config.epochs);
    options.learning_rate = static_cast<float>(deps_.config.learning_rate);
    options.seed = static_cast<uint64_t>(deps_.config.seed);
    options.max_tokens = static_cast<uint32_t>(deps_.config.max_tokens);
    options.checkpoint = dir / "train.ckpt";
    options.evaluate_epoch = [&](const LoraWeights& lora) {
      const auto losses = example_losses(*model, &lora, *device, held_out);
      double mean = 0;
      for (double l : losses) mean += l / static_cast<double>(std::max<size_t>(losses.size(), 1));
      return mean;
    };
    const auto train =
        fitting(tokenize_examples(*tokenizer, files.train), deps_.config.max_tokens, left_out);
    const TrainReport r = LoraTrainer(*model, *device, options)
                              .train(train, dir / "adapter.gguf",
                                     {{"a4ps.persona", p.id},
                                      {"a4ps.dataset", "v" + std::to_string(dataset->version)}},
                                     on_progress);
    record.step_losses = r.step_losses;
    record.held_out_losses = r.epoch_evaluations;
    record.options = {{"rank", options.lora.rank},
                      {"alpha", options.lora.alpha},
                      {"targets", options.lora.targets},
                      {"epochs", options.epochs},
                      {"learning_rate", options.learning_rate},
                      {"seed", options.seed},
                      {"steps", r.steps},
                      {"resumed_at_step", r.resumed_at_step},
                      {"left_out_too_long", left_out}};
  }
  record.sha256 = file_sha256(dir / "adapter.gguf");
  const json manifest = {{"format_version", kAdapterManifestVersion},
                         {"persona", p.id},
                         {"version", record.version},
                         {"dataset_version", record.dataset_version},
                         {"dataset_sha256", dataset->sha256},
                         {"trainer", record.trainer},
                         {"base_model", record.base_model},
                         {"base_file", base.filename().string()},
                         {"base_bytes", std::filesystem::file_size(base, ec)},
                         {"sha256", record.sha256},
                         {"options", record.options},
                         {"step_losses", record.step_losses},
                         {"held_out_losses", record.held_out_losses}};
  write_file_durably(dir / "manifest.json", manifest.dump(2) + "\n");
  return store_->add_adapter(record);
}

json StrategicLoop::pairwise_check(const Persona& p, const std::vector<ChatExample>& prompts,
                                   std::optional<std::int64_t> baseline, std::int64_t version) {
  const Persona& judge = persona("alfred");
  std::filesystem::path judge_model;
  try {
    judge_model = deps_.local_model(judge);
  } catch (const Error&) {
    // A judge served by a model server is a real model.
  }
  if (!deps_.reply) return {{"skipped", "no way to make the persona reply here"}};
  if (!judge_model.empty() && is_generated_model(judge_model)) {
    return {{"skipped", "ALFRED's model is a generated test model; its preferences mean nothing"}};
  }
  const auto adapter_of = [&](std::optional<std::int64_t> v) -> std::optional<llm::LoraAdapter> {
    if (!v) return std::nullopt;
    return llm::LoraAdapter{(adapter_dir(deps_.image_dir, p.id, *v) / "adapter.gguf").string(),
                            1.0f};
  };
  Oracle oracle(deps_.speaker(), *deps_.codex, deps_.config);
  double wins = 0;
  int64_t flips = 0;
  const size_t n = std::min(prompts.size(), kPairwisePrompts);
  for (size_t i = 0; i < n; ++i) {
    ChatExample prompt(prompts[i].begin(), prompts[i].end() - 1);
    const std::string ours = deps_.reply(p, prompt, adapter_of(version));
    const std::string theirs = deps_.reply(p, prompt, adapter_of(baseline));
    const PairwisePreference pref = oracle.prefer(prompt.back().content, ours, theirs);
    wins += pref.winner == "a" ? 1.0 : pref.winner == "tie" ? 0.5 : 0.0;
    flips += pref.flipped ? 1 : 0;
  }
  return {
      {"prompts", n}, {"win_rate", n == 0 ? 0.5 : wins / static_cast<double>(n)}, {"flips", flips}};
}

GateResult StrategicLoop::evaluate(const std::string& id, std::int64_t version) {
  const Persona& p = persona(id);
  const auto record = store_->adapter(p.id, version);
  if (!record) throw_not_found(p.name + " has no adapter v" + std::to_string(version));
  verified(*record);
  const auto dataset = store_->dataset(p.id, record->dataset_version);
  if (!dataset)
    throw Error(ErrorCode::kDataLoss,
                "dataset v" + std::to_string(record->dataset_version) + " is gone");
  GateResult g;
  g.persona = p.id;
  g.version = version;
  g.baseline = store_->adopted(p.id);
  if (g.baseline == version) {
    throw Error(ErrorCode::kFailedPrecondition,
                p.name + " already uses v" + std::to_string(version));
  }
  if (g.baseline) {
    const auto current = store_->adapter(p.id, *g.baseline);
    if (current) verified(*current);
  }
  const DatasetFiles files = read_dataset(deps_.image_dir, *dataset);
  const std::filesystem::path base = deps_.local_model(p);
  int64_t left_out = 0;
  const auto held_out =
      fitting(tokenize_examples(*open_tokenizer(base), files.held_out), 65536, left_out);
  const auto device = ComputeDevice::create(deps_.threads);
  const auto model = BaseModel::load(base, *device);
  const auto candidate = LoraWeights::load(
      adapter_dir(deps_.image_dir, p.id, version) / "adapter.gguf", *model, *device);
  std::unique_ptr<LoraWeights> current;
  if (g.baseline) {
    current = LoraWeights::load(adapter_dir(deps_.image_dir, p.id, *g.baseline) / "adapter.gguf",
                                *model, *device);
  }
  const auto before = example_losses(*model, current.get(), *device, held_out);
  const auto after = example_losses(*model, candidate.get(), *device, held_out);
  const PairedComparison c = paired_bootstrap(before, after, deps_.config.bootstrap_samples,
                                              0xa4b5 + static_cast<uint64_t>(version));
  g.figures = {{"n", c.n},
               {"mean_improvement", c.mean_improvement},
               {"ci_low", c.ci_low},
               {"ci_high", c.ci_high},
               {"min_improvement", deps_.config.min_improvement},
               {"baseline_mean_loss",
                [&] {
                  double s = 0;
                  for (double l : before) s += l;
                  return s / static_cast<double>(before.size());
                }()},
               {"candidate_mean_loss",
                [&] {
                  double s = 0;
                  for (double l : after) s += l;
                  return s / static_cast<double>(after.size());
                }()},
               {"bootstrap_samples", deps_.config.bootstrap_samples}};
  const bool better = c.ci_low >= deps_.config.min_improvement;
  g.figures["pairwise"] = better ? pairwise_check(p, files.held_out, g.baseline, version)
                                 : json{{"skipped", "the losses already decide"}};
  const json& pairwise = g.figures["pairwise"];
  const bool pairwise_ok =
      !pairwise.contains("win_rate") || pairwise["win_rate"].get<double>() >= 0.5;
  g.passes = better && pairwise_ok;
  char text[256];
  std::snprintf(text, sizeof(text),
                "held-out loss improvement %.4f (95%% interval %.4f to %.4f) over %s on %lld "
                "examples; needed at least %.4f",
                c.mean_improvement, c.ci_low, c.ci_high, version_name(g.baseline).c_str(),
                static_cast<long long>(c.n), deps_.config.min_improvement);
  g.reason = text;
  if (better && !pairwise_ok)
    g.reason += "; but ALFRED preferred it in fewer than half the held-out prompts";
  return g;
}

AdoptionDecision StrategicLoop::adopt(const std::string& id, std::int64_t version) {
  const GateResult g = evaluate(id, version);
  AdoptionDecision d;
  d.persona = g.persona;
  d.version = version;
  d.action = g.passes ? "adopt" : "reject";
  d.baseline = g.baseline;
  d.figures = g.figures;
  d.reason = g.reason;
  d.decided_by = "gate";
  return store_->decide(d);
}

AdoptionDecision StrategicLoop::rollback(const std::string& id, std::optional<std::int64_t> to,
                                         bool to_base) {
  const Persona& p = persona(id);
  const std::optional<std::int64_t> current = store_->adopted(p.id);
  std::optional<std::int64_t> target = to;
  if (!to && !to_base) {
    const auto decisions = store_->decisions(p.id);
    const auto moved = std::find_if(
        decisions.begin(), decisions.end(),
        [](const AdoptionDecision& d) { return d.action == "adopt" || d.action == "rollback"; });
    if (moved == decisions.end()) {
      throw Error(ErrorCode::kFailedPrecondition,
                  p.name + " has never adopted an adapter; nothing to roll back");
    }
    target = moved->baseline;
  }
  if (target == current) {
    throw Error(ErrorCode::kFailedPrecondition, p.name + " already uses " + version_name(current));
  }
  if (target) {
    const auto record = store_->adapter(p.id, *target);
    if (!record) throw_not_found(p.name + " has no adapter v" + std::to_string(*target));
    verified(*record);
  }
  AdoptionDecision d;
  d.persona = p.id;
  d.version = target;
  d.action = "rollback";
  d.baseline = current;
  d.reason = "rolled back from " + version_name(current) + " to " + version_name(target);
  d.decided_by = "user";
  return store_->decide(d);
}

std::optional<llm::LoraAdapter> StrategicLoop::adopted_adapter(const std::string& id) {
  const std::optional<std::int64_t> version = store_->adopted(id);
  if (!version) return std::nullopt;
  const auto record = store_->adapter(id, *version);
  if (!record)
    throw Error(ErrorCode::kDataLoss, id + " is pointed at adapter v" + std::to_string(*version) +
                                          ", which has no record");
  verified(*record);
  return llm::LoraAdapter{(adapter_dir(deps_.image_dir, id, *version) / "adapter.gguf").string(),
                          1.0f};
}

json StrategicLoop::status() {
  json personas = json::array();
  for (const Persona& p : deps_.codex->personas()) {
    const auto datasets = store_->datasets(p.id);
    const auto adapters = store_->adapters(p.id);
    const auto decisions = store_->decisions(p.id);
    const auto adopted = store_->adopted(p.id);
    json entry = {{"persona", p.id},
                  {"name", p.name},
                  {"golden", store_->count_judgements(p.id, /*golden_only=*/true)},
                  {"judged", store_->count_judgements(p.id, /*golden_only=*/false)},
                  {"golden_since_last_dataset", store_->golden_since_last_dataset(p.id)},
                  {"datasets", datasets.size()},
                  {"candidates", adapters.size()},
                  {"adopted", adopted ? json(*adopted) : json(nullptr)},
                  {"latest_dataset", nullptr},
                  {"last_decision", nullptr}};
    if (!datasets.empty()) entry["latest_dataset"] = datasets.front().version;
    if (!decisions.empty()) {
      entry["last_decision"] = {
          {"action", decisions.front().action},
          {"version", decisions.front().version ? json(*decisions.front().version) : json(nullptr)},
          {"reason", decisions.front().reason},
          {"created_ms", decisions.front().created_ms}};
    }
    personas.push_back(entry);
  }
  return {{"personas", personas},
          {"settings",
           {{"golden_threshold", deps_.config.golden_threshold},
            {"min_examples", deps_.config.min_examples},
            {"held_out_fraction", deps_.config.held_out_fraction},
            {"min_improvement", deps_.config.min_improvement},
            {"trainer", deps_.config.trainer_command.empty() ? "a4ps" : "external"}}}};
}

}  // namespace a4ps::evolve
