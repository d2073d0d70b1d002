// a4ps evolve: the strategic loop from the command line. `train` and `eval` also work on files
// alone (--base MODEL --data FILE.jsonl), outside any image.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "core/error.h"
#include "evolve/base_model.h"
#include "evolve/chat_jsonl.h"
#include "evolve/lora.h"
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
  g_stop_training.store(false);
  std::signal(SIGINT, on_training_sigint);
  std::signal(SIGTERM, on_training_sigint);
  evolve::TrainReport r;
  try {
    r = evolve::LoraTrainer(*base, *device, options)
            .train(examples, a.out, {{"a4ps.train.data", a.data}}, print_progress(a.json));
  } catch (...) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    throw;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
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

void add_train_command(CLI::App* evolve, const GlobalOptions& options) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = evolve->add_subcommand(
      "train",
      "Train a LoRA adapter with A4PS's own trainer: AdamW on the assistant's tokens only, over "
      "a frozen llama GGUF base (F32, F16 or Q8_0). Progress shows step, loss, tokens/s and "
      "ETA; Ctrl-C or a kill leaves a checkpoint (OUT.ckpt) from which the same command resumes");
  cmd->add_option("--base", a->base, "The base model (a llama-architecture GGUF)")->required();
  cmd->add_option("--data", a->data,
                  "Chat JSONL: {\"messages\": [{\"role\", \"content\"}, ...]} per line, the last "
                  "message the assistant's")
      ->required();
  cmd->add_option("--out", a->out, "Where the adapter GGUF goes")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "The checkpoint file (default: OUT.ckpt)");
  cmd->add_option("--rank", a->rank, "LoRA rank")->check(at_least(1))->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "LoRA alpha (scale = alpha / rank)")->capture_default_str();
  cmd->add_option("--targets", a->targets,
                  "Adapted weights: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, "
                  "ffn_down, or attention, ffn, all")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Passes over the examples")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option("--lr", a->learning_rate, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the initial A and of the example order")
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "Longest example accepted, in tokens")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", a->json, "Print the report as JSON, no progress");
  cmd->callback([&options, a] {
    apply_verbosity(options);
    train_files(*a);
  });
}

void add_eval_command(CLI::App* evolve, const GlobalOptions& options) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = evolve->add_subcommand(
      "eval", "Each example's mean loss over its assistant tokens, with an adapter or without");
  cmd->add_option("--base", a->base, "The base model (a llama-architecture GGUF)")->required();
  cmd->add_option("--data", a->data, "Chat JSONL, as for train")->required();
  cmd->add_option("--adapter", a->adapter, "A LoRA adapter GGUF for the base");
  cmd->add_option("--threads", a->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", a->json, "Print every example's loss as JSON");
  cmd->callback([&options, a] {
    apply_verbosity(options);
    eval_files(*a);
  });
}

}  // namespace

void add_evolve_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* evolve = app.add_subcommand(
      "evolve", "The strategic loop: train LoRA adapters for the personas and measure them");
  evolve->require_subcommand(1);
  add_train_command(evolve, options);
  add_eval_command(evolve, options);
}

}  // namespace a4ps::cli
