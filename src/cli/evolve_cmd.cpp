// a4ps evolve: the strategic loop from the command line, over the selected image (judge,
// dataset, train, eval, adopt, rollback, status). `train` and `eval` also work on files alone
// (--base MODEL --data FILE.jsonl), outside any image.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "cli/runtime_access.h"
#include "core/error.h"
#include "evolve/base_model.h"
#include "evolve/chat_jsonl.h"
#include "evolve/lora.h"
#include "evolve/strategic_loop.h"
#include "evolve/trainer.h"
#include "llm/llama_backend.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

std::atomic<bool> g_stop_training{false};

extern "C" void on_training_sigint(int) {
  g_stop_training.store(true);
}

struct TrainArgs {
  std::string persona;
  std::int64_t dataset = 0;  // 0: the latest
  std::string base;
  std::string data;
  std::string out;
  std::string checkpoint;
  std::string targets = "attn_q,attn_k,attn_v,attn_output";
  uint32_t rank = 8;
  float alpha = 16.0f;
  uint32_t epochs = 3;
  float learning_rate = 1e-3f;
  uint64_t seed = 1;
  uint32_t max_tokens = 1024;
  int32_t threads = 0;
  bool json = false;
};

std::unique_ptr<llm::LlamaBackend> open_tokenizer(const std::string& base) {
  llm::LlamaLoadParams params;
  params.path = base;
  params.vocab_only = true;
  return llm::LlamaBackend::create(params);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02lld", s / 60, s % 60);
  return text;
}

// A line per step on a terminal (drawn in place), else one line about every tenth of the run.
evolve::TrainProgressFn print_progress(bool quiet) {
  const bool terminal = stderr_is_terminal();
  auto last_tenth = std::make_shared<uint64_t>(0);
  return [terminal, quiet, last_tenth](const evolve::TrainProgress& p) {
    if (quiet) return !g_stop_training.load();
    const uint64_t tenth = p.step * 10 / std::max<uint64_t>(p.total_steps, 1);
    if (terminal || tenth != *last_tenth || p.step == p.total_steps) {
      *last_tenth = tenth;
      std::fprintf(stderr, "%sstep %llu/%llu · epoch %u/%u · loss %.4f · %.0f tokens/s · ETA %s%s",
                   terminal ? "\r" : "", static_cast<unsigned long long>(p.step),
                   static_cast<unsigned long long>(p.total_steps), p.epoch, p.epochs, p.loss,
                   p.tokens_per_second, clock_text(p.eta_seconds).c_str(),
                   terminal && p.step != p.total_steps ? "   " : "\n");
    }
    return !g_stop_training.load();
  };
}

// Ctrl-C and SIGTERM stop a training run at the next step (its checkpoint resumes it).
class StopTrainingOnSignal {
 public:
  StopTrainingOnSignal() {
    g_stop_training.store(false);
    std::signal(SIGINT, on_training_sigint);
    std::signal(SIGTERM, on_training_sigint);
  }
  ~StopTrainingOnSignal() {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  StopTrainingOnSignal(const StopTrainingOnSignal&) = delete;
  StopTrainingOnSignal& operator=(const StopTrainingOnSignal&) = delete;
};

void train_files(const TrainArgs& a) {
  require_regular_file(a.base, "--base " + a.base, "a GGUF model");
  require_regular_file(a.data, "--data " + a.data, "a chat JSONL file");
  evolve::TrainOptions options;
  options.lora.rank = a.rank;
  options.lora.alpha = a.alpha;
  options.lora.targets = evolve::parse_lora_targets(a.targets);
  options.epochs = a.epochs;
  options.learning_rate = a.learning_rate;
  options.seed = a.seed;
  options.max_tokens = a.max_tokens;
  options.checkpoint = a.checkpoint.empty() ? a.out + ".ckpt" : a.checkpoint;
  evolve::validate_train_options(options);
  const auto examples =
      evolve::tokenize_examples(*open_tokenizer(a.base), evolve::read_chat_jsonl(a.data));
  const auto device = evolve::ComputeDevice::create(a.threads);
  const auto base = evolve::BaseModel::load(a.base, *device);
  if (!a.json) {
    std::fprintf(
        stderr, "training a rank-%u LoRA on %zu examples over %s (%s, %d threads)%s\n", a.rank,
        examples.size(), a.base.c_str(), device->name().c_str(), device->threads(),
        std::filesystem::exists(options.checkpoint) ? "; resuming from its checkpoint" : "");
  }
  StopTrainingOnSignal stop;
  const evolve::TrainReport r =
      evolve::LoraTrainer(*base, *device, options)
          .train(examples, a.out, {{"a4ps.train.data", a.data}}, print_progress(a.json));
  if (a.json) {
    std::cout << json{{"adapter", a.out},
                      {"steps", r.steps},
                      {"resumed_at_step", r.resumed_at_step},
                      {"step_losses", r.step_losses},
                      {"epoch_losses", r.epoch_losses},
                      {"tokens", r.tokens},
                      {"seconds", r.seconds},
                      {"parameters", r.parameters}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "wrote " << a.out << ": " << r.parameters << " trainable parameters, " << r.steps
            << " steps";
  if (r.resumed_at_step > 0) std::cout << " (resumed at step " << r.resumed_at_step << ")";
  std::cout << "\n  mean loss per epoch:";
  for (float l : r.epoch_losses) std::printf(" %.4f", static_cast<double>(l));
  std::cout << "\n";
}

struct EvalArgs {
  std::string persona;
  std::int64_t version = 0;
  std::string base;
  std::string data;
  std::string adapter;
  int32_t threads = 0;
  bool json = false;
};

void eval_files(const EvalArgs& a) {
  require_regular_file(a.base, "--base " + a.base, "a GGUF model");
  require_regular_file(a.data, "--data " + a.data, "a chat JSONL file");
  if (!a.adapter.empty()) require_regular_file(a.adapter, "--adapter " + a.adapter, "a LoRA GGUF");
  const auto examples =
      evolve::tokenize_examples(*open_tokenizer(a.base), evolve::read_chat_jsonl(a.data));
  const auto device = evolve::ComputeDevice::create(a.threads);
  const auto base = evolve::BaseModel::load(a.base, *device);
  std::unique_ptr<evolve::LoraWeights> lora;
  if (!a.adapter.empty()) lora = evolve::LoraWeights::load(a.adapter, *base, *device);
  const std::vector<double> losses = evolve::example_losses(*base, lora.get(), *device, examples);
  double mean = 0;
  for (double l : losses) mean += l / static_cast<double>(losses.size());
  if (a.json) {
    std::cout << json{{"mean_loss", mean}, {"losses", losses}}.dump(2) << "\n";
    return;
  }
  std::printf("%zu examples: mean loss %.4f per assistant token%s\n", losses.size(), mean,
              a.adapter.empty() ? " (the base alone)" : (" with " + a.adapter).c_str());
}

std::string version_text(const json& version) {
  return version.is_null() ? std::string("base")
                           : "v" + std::to_string(version.get<std::int64_t>());
}

void print_decision(const evolve::AdoptionDecision& d) {
  const json j = evolve::to_json(d);
  std::cout << d.persona << " " << version_text(j["version"]) << ": " << d.action
            << (d.action == "adopt"    ? "ed"
                : d.action == "reject" ? "ed"
                                       : "")
            << " — " << d.reason << "\n";
  if (d.figures.contains("pairwise")) {
    const json& p = d.figures["pairwise"];
    std::cout << "  pairwise check: "
              << (p.contains("skipped") ? "skipped (" + p["skipped"].get<std::string>() + ")"
                                        : "win rate " + p["win_rate"].dump() + " over " +
                                              p["prompts"].dump() + " prompts")
              << "\n";
  }
}

void judge_command(const GlobalOptions& options, const std::string& run, std::int64_t limit,
                   bool as_json) {
  const auto rt = open_runtime(options);
  const evolve::JudgeReport r =
      rt->evolve().judge(run, limit, [as_json](const evolve::Judgement& j) {
        if (as_json) return;
        std::fprintf(stderr, "judged %s in %s: %.2f%s%s\n", j.persona.c_str(), j.run_id.c_str(),
                     j.score, j.golden ? " · golden" : "",
                     j.uncertain ? (" · uncertain: " + j.uncertain_reason).c_str() : "");
      });
  if (as_json) {
    std::cout << json{{"judged", r.judged},
                      {"already", r.already},
                      {"golden", r.golden},
                      {"uncertain", r.uncertain}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << r.judged << " judgements (" << r.golden << " golden, " << r.uncertain
            << " uncertain); " << r.already << " judged before\n";
}

void dataset_command(const GlobalOptions& options, const std::string& persona, bool as_json) {
  const auto rt = open_runtime(options);
  const evolve::DatasetBuild b = rt->evolve().make_dataset(persona);
  const json j = {{"persona", b.record.persona},
                  {"version", b.record.version},
                  {"dir", b.dir.string()},
                  {"sha256", b.record.sha256},
                  {"n_train", b.record.n_train},
                  {"n_held_out", b.record.n_held_out},
                  {"duplicates", b.duplicates},
                  {"skipped_other_codex", b.skipped_other_codex},
                  {"skipped_incomplete", b.skipped_incomplete}};
  if (as_json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "made " << b.record.persona << " dataset v" << b.record.version << " in "
            << b.dir.string() << ": " << b.record.n_train << " to train on, " << b.record.n_held_out
            << " held out (frozen)";
  if (b.duplicates + b.skipped_other_codex + b.skipped_incomplete > 0) {
    std::cout << "; left out " << b.duplicates << " duplicates, " << b.skipped_other_codex
              << " from another codex, " << b.skipped_incomplete << " incomplete";
  }
  std::cout << "\n";
}

void train_persona(const GlobalOptions& options, const TrainArgs& a) {
  const auto rt = open_runtime(options);
  StopTrainingOnSignal stop;
  const evolve::AdapterRecord r = rt->evolve().train(
      a.persona, a.dataset > 0 ? std::optional<std::int64_t>(a.dataset) : std::nullopt,
      print_progress(a.json));
  const json j = {{"persona", r.persona},
                  {"version", r.version},
                  {"dataset_version", r.dataset_version},
                  {"trainer", r.trainer},
                  {"sha256", r.sha256},
                  {"step_losses", r.step_losses},
                  {"held_out_losses", r.held_out_losses},
                  {"options", r.options}};
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "trained " << r.persona << " v" << r.version << " on dataset v" << r.dataset_version
            << " (" << r.trainer << " trainer";
  if (r.options.value("resumed_at_step", 0) > 0) {
    std::cout << ", resumed from its checkpoint at step " << r.options["resumed_at_step"];
  }
  std::cout << "): a candidate; held-out loss"
            << (r.trainer == "a4ps" ? " after each epoch:" : ":");
  for (double l : r.held_out_losses) std::printf(" %.4f", l);
  std::cout << "\n  next: "
            << a4ps_command(options, "evolve adopt " + r.persona + " " + std::to_string(r.version))
            << " (adopted only if the gate finds it better)\n";
}

void eval_persona(const GlobalOptions& options, const EvalArgs& a) {
  const auto rt = open_runtime(options);
  const evolve::GateResult g = rt->evolve().evaluate(a.persona, a.version);
  if (a.json) {
    std::cout << json{{"persona", g.persona},
                      {"version", g.version},
                      {"baseline", g.baseline ? json(*g.baseline) : json(nullptr)},
                      {"figures", g.figures},
                      {"passes", g.passes},
                      {"reason", g.reason}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << g.persona << " v" << g.version << ": "
            << (g.passes ? "would be adopted" : "would be rejected") << " — " << g.reason << "\n";
}

void status_command(const GlobalOptions& options, const std::string& persona, bool as_json) {
  const auto rt = open_runtime(options);
  evolve::StrategicLoop& loop = rt->evolve();
  if (persona.empty()) {
    const json s = loop.status();
    if (as_json) {
      std::cout << s.dump(2) << "\n";
      return;
    }
    for (const json& p : s["personas"]) {
      std::cout << p["name"].get<std::string>() << ": " << p["judged"] << " judged, " << p["golden"]
                << " golden (" << p["golden_since_last_dataset"] << " new), " << p["datasets"]
                << " datasets, " << p["candidates"] << " adapters; uses "
                << version_text(p["adopted"]) << "\n";
    }
    return;
  }
  const Persona& p = loop.codex().persona(persona);  // works while an adapter is refused
  json adapters = json::array();
  for (const auto& a : loop.store().adapters(p.id)) {
    adapters.push_back({{"version", a.version},
                        {"dataset_version", a.dataset_version},
                        {"status", evolve::adapter_status_name(a.status)},
                        {"trainer", a.trainer},
                        {"held_out_losses", a.held_out_losses}});
  }
  json decisions = json::array();
  for (const auto& d : loop.store().decisions(p.id)) decisions.push_back(evolve::to_json(d));
  const auto adopted = loop.store().adopted(p.id);
  const json out = {{"persona", p.id},
                    {"adopted", adopted ? json(*adopted) : json(nullptr)},
                    {"adapters", adapters},
                    {"decisions", decisions}};
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << p.name << " uses " << version_text(out["adopted"]) << "\n";
  for (const json& a : adapters) {
    std::cout << "  v" << a["version"] << " (dataset v" << a["dataset_version"] << ", "
              << a["trainer"].get<std::string>() << "): " << a["status"].get<std::string>() << "\n";
  }
  for (const auto& d : loop.store().decisions(p.id)) print_decision(d);
}

void add_train_command(CLI::App* evolve, const GlobalOptions& options) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = evolve->add_subcommand(
      "train",
      "Train a LoRA adapter with A4PS's own trainer (AdamW on the assistant's tokens only, over "
      "a frozen llama GGUF base of F32, F16 or Q8_0): `train PERSONA` on the persona's latest "
      "dataset in the image (a candidate, adopted only by `evolve adopt`), or `train --base M "
      "--data D --out A` on files. Progress shows step, loss, tokens/s and ETA; Ctrl-C or a "
      "kill leaves a checkpoint from which the same command resumes");
  cmd->add_option("persona", a->persona, "The persona (image mode)");
  cmd->add_option("--dataset", a->dataset, "The dataset version (default: the latest)")
      ->check(at_least(1));
  cmd->add_option("--base", a->base, "Files mode: the base model (a llama-architecture GGUF)");
  cmd->add_option("--data", a->data,
                  "Files mode: chat JSONL, {\"messages\": [{\"role\", \"content\"}, ...]} per "
                  "line, the last message the assistant's");
  cmd->add_option("--out", a->out, "Files mode: where the adapter GGUF goes");
  cmd->add_option("--checkpoint", a->checkpoint, "Files mode: the checkpoint (default: OUT.ckpt)");
  cmd->add_option("--rank", a->rank, "Files mode: LoRA rank")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "Files mode: LoRA alpha (scale = alpha / rank)")
      ->capture_default_str();
  cmd->add_option("--targets", a->targets,
                  "Files mode: adapted weights: attn_q, attn_k, attn_v, attn_output, ffn_gate, "
                  "ffn_up, ffn_down, or attention, ffn, all")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Files mode: passes over the examples")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option("--lr", a->learning_rate, "Files mode: AdamW learning rate")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Files mode: seed of the initial A and the example order")
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "Files mode: longest example accepted")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", a->json, "Print the report as JSON, no progress");
  cmd->callback([&options, a] {
    apply_verbosity(options);
    const bool files = !a->base.empty() || !a->data.empty() || !a->out.empty();
    if (files == !a->persona.empty()) {
      throw_invalid_argument(
          files ? "evolve train: give a PERSONA or --base/--data/--out, not both"
                : "evolve train: give a PERSONA (image mode) or --base, --data and --out");
    }
    if (!files) {
      train_persona(options, *a);
      return;
    }
    if (a->base.empty() || a->data.empty() || a->out.empty()) {
      throw_invalid_argument("evolve train: files mode needs --base, --data and --out");
    }
    train_files(*a);
  });
}

void add_eval_command(CLI::App* evolve, const GlobalOptions& options) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = evolve->add_subcommand(
      "eval",
      "The adoption gate's figures without deciding: `eval PERSONA VERSION` compares the "
      "candidate with the adapter in use (or the base) on its dataset's held-out split; `eval "
      "--base M --data D [--adapter A]` prints each example's mean loss on files");
  cmd->add_option("persona", a->persona, "The persona (image mode)");
  cmd->add_option("version", a->version, "The candidate adapter version")->check(at_least(1));
  cmd->add_option("--base", a->base, "Files mode: the base model");
  cmd->add_option("--data", a->data, "Files mode: chat JSONL, as for train");
  cmd->add_option("--adapter", a->adapter, "Files mode: a LoRA adapter GGUF for the base");
  cmd->add_option("--threads", a->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", a->json, "Print the figures as JSON");
  cmd->callback([&options, a] {
    apply_verbosity(options);
    if (!a->persona.empty()) {
      if (a->version == 0)
        throw_invalid_argument("evolve eval: give the candidate's VERSION after the persona");
      eval_persona(options, *a);
      return;
    }
    if (a->base.empty() || a->data.empty()) {
      throw_invalid_argument("evolve eval: give PERSONA VERSION (image mode) or --base and --data");
    }
    eval_files(*a);
  });
}

void add_image_commands(CLI::App* evolve, const GlobalOptions& options) {
  auto run = std::make_shared<std::string>();
  auto limit = std::make_shared<std::int64_t>(100);
  auto as_json = std::make_shared<bool>(false);
  auto persona = std::make_shared<std::string>();
  auto version = std::make_shared<std::int64_t>(0);
  auto to = std::make_shared<std::string>();
  CLI::App* judge = evolve->add_subcommand(
      "judge",
      "The ALFRED Oracle: score each persona's part in the finished episodes not judged yet, "
      "against a rubric from the codex (its core imperatives and whether the task was done); "
      "golden ones feed the datasets");
  judge->add_option("--run", *run, "Judge this run only");
  judge->add_option("--limit", *limit, "At most this many judgements")
      ->check(at_least(1))
      ->capture_default_str();
  judge->add_flag("--json", *as_json, "Print the counts as JSON");
  judge->callback([&options, run, limit, as_json] {
    apply_verbosity(options);
    judge_command(options, *run, *limit, *as_json);
  });
  CLI::App* dataset = evolve->add_subcommand(
      "dataset",
      "Make the persona's next dataset version from its golden turns (IMAGE/datasets/PERSONA/vN: "
      "train.jsonl, held_out.jsonl, manifest.json); the held-out split is frozen");
  dataset->add_option("persona", *persona, "The persona")->required();
  dataset->add_flag("--json", *as_json, "Print the dataset as JSON");
  dataset->callback([&options, persona, as_json] {
    apply_verbosity(options);
    dataset_command(options, *persona, *as_json);
  });
  CLI::App* adopt = evolve->add_subcommand(
      "adopt",
      "Run the adoption gate on a candidate and record its decision: adopted (the persona uses "
      "it from its next turn on) only if the held-out loss improves by at least [evolve] "
      "min_improvement with 95% confidence; else rejected");
  adopt->add_option("persona", *persona, "The persona")->required();
  adopt->add_option("version", *version, "The candidate adapter version")
      ->required()
      ->check(at_least(1));
  adopt->add_flag("--json", *as_json, "Print the decision as JSON");
  adopt->callback([&options, persona, version, as_json] {
    apply_verbosity(options);
    const auto rt = open_runtime(options);
    const evolve::AdoptionDecision d = rt->evolve().adopt(*persona, *version);
    if (*as_json) {
      std::cout << evolve::to_json(d).dump(2) << "\n";
    } else {
      print_decision(d);
    }
  });
  CLI::App* rollback = evolve->add_subcommand(
      "rollback",
      "Point the persona back at what its current adapter replaced (or --to VERSION|base)");
  rollback->add_option("persona", *persona, "The persona")->required();
  rollback->add_option("--to", *to, "An adapter version, or base");
  rollback->add_flag("--json", *as_json, "Print the decision as JSON");
  rollback->callback([&options, persona, to, as_json] {
    apply_verbosity(options);
    std::optional<std::int64_t> target;
    const bool to_base = *to == "base";
    if (!to->empty() && !to_base) {
      try {
        target = std::stoll(to->front() == 'v' ? to->substr(1) : *to);
      } catch (const std::exception&) {
        throw_invalid_argument("--to " + *to + ": expected an adapter version (3 or v3) or base");
      }
    }
    const auto rt = open_runtime(options);
    const evolve::AdoptionDecision d = rt->evolve().rollback(*persona, target, to_base);
    if (*as_json) {
      std::cout << evolve::to_json(d).dump(2) << "\n";
    } else {
      print_decision(d);
    }
  });
  CLI::App* status = evolve->add_subcommand(
      "status",
      "Each persona's judgements, datasets, adapters and the one it uses; with PERSONA, "
      "its adapters and every decision with its figures");
  status->add_option("persona", *persona, "One persona in detail");
  status->add_flag("--json", *as_json, "Print as JSON");
  status->callback([&options, persona, as_json] {
    apply_verbosity(options);
    status_command(options, *persona, *as_json);
  });
}

}  // namespace

void add_evolve_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* evolve = app.add_subcommand(
      "evolve",
      "The strategic loop: judge finished episodes, make datasets of the golden turns, train "
      "LoRA adapters, and adopt one only when it measurably beats the current one");
  evolve->require_subcommand(1);
  add_image_commands(evolve, options);
  add_train_command(evolve, options);
  add_eval_command(evolve, options);
}

}  // namespace a4ps::cli
