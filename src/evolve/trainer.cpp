#include "evolve/trainer.h"

#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <system_error>

#include "core/error.h"
#include "core/hash.h"
#include "evolve/llama_graph.h"
#include "evolve/train_checkpoint.h"

namespace a4ps::evolve {
namespace {

struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgmlContextPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

// One example's graph: the sequence, the rows that predict a target token, the loss.
struct ExampleGraph {
  GgmlContextPtr ctx;
  SequenceGraph sequence;
  ggml_tensor* rows = nullptr;    // I32 [n_targets]: positions whose next token is a target
  ggml_tensor* labels = nullptr;  // F32 [n_vocab, n_targets], one-hot
  ggml_tensor* loss = nullptr;
  ggml_cgraph* graph = nullptr;
  std::vector<int32_t> row_ids;
  std::vector<int32_t> label_ids;
};

void check_example(const llm::TrainingTokens& ex, size_t index, uint32_t n_vocab,
                   uint32_t max_tokens) {
  const std::string where = "example " + std::to_string(index + 1);
  if (ex.tokens.size() != ex.target.size()) {
    throw_invalid_argument(where + ": its target mask is not as long as its tokens");
  }
  if (ex.tokens.size() > max_tokens) {
    throw_invalid_argument(where + ": " + std::to_string(ex.tokens.size()) +
                           " tokens, more than max_tokens " + std::to_string(max_tokens));
  }
  bool any_target = false;
  for (size_t i = 0; i < ex.tokens.size(); ++i) {
    if (ex.tokens[i] < 0 || static_cast<uint32_t>(ex.tokens[i]) >= n_vocab) {
      throw_invalid_argument(where + ": token " + std::to_string(ex.tokens[i]) +
                             " is outside the vocabulary of " + std::to_string(n_vocab));
    }
    any_target = any_target || (i > 0 && ex.target[i] != 0);
  }
  if (!any_target) throw_invalid_argument(where + ": has no assistant tokens to train on");
}

ExampleGraph build_example(const BaseModel& base, const LoraWeights* lora,
                           const llm::TrainingTokens& ex) {
  ExampleGraph g;
  for (size_t i = 1; i < ex.tokens.size(); ++i) {
    if (ex.target[i] == 0) continue;
    g.row_ids.push_back(static_cast<int32_t>(i - 1));
    g.label_ids.push_back(ex.tokens[i]);
  }
  g.ctx.reset(ggml_init({graph_context_bytes(base), nullptr, /*no_alloc=*/true}));
  if (!g.ctx) throw Error(ErrorCode::kResourceExhausted, "trainer: cannot create a graph context");
  ggml_context* ctx = g.ctx.get();
  g.sequence = build_sequence(ctx, base, lora, static_cast<int64_t>(ex.tokens.size()));
  const auto n_targets = static_cast<int64_t>(g.row_ids.size());
  g.rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_targets);
  g.labels = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, base.hparams().n_vocab, n_targets);
  ggml_set_input(g.rows);
  ggml_set_input(g.labels);
  ggml_tensor* logits = build_logits(ctx, base, lora, g.sequence.hidden, g.rows);
  g.loss = ggml_cross_entropy_loss(ctx, logits, g.labels);
  ggml_set_output(g.loss);
  ggml_set_loss(g.loss);
  g.graph = ggml_new_graph_custom(ctx, graph_node_budget(base), /*grads=*/true);
  ggml_build_forward_expand(g.graph, g.loss);
  return g;
}

void set_example_inputs(const ExampleGraph& g, const llm::TrainingTokens& ex, uint32_t n_vocab) {
  set_sequence_inputs(g.sequence, ex.tokens);
  ggml_backend_tensor_set(g.rows, g.row_ids.data(), 0, ggml_nbytes(g.rows));
  std::vector<float> one_hot(static_cast<size_t>(n_vocab) * g.label_ids.size(), 0.0f);
  for (size_t r = 0; r < g.label_ids.size(); ++r) {
    one_hot[r * n_vocab + static_cast<size_t>(g.label_ids[r])] = 1.0f;
  }
  ggml_backend_tensor_set(g.labels, one_hot.data(), 0, ggml_nbytes(g.labels));
}

// Allocates each graph's intermediate tensors (reusing one buffer) and computes it.
class GraphRunner {
 public:
  explicit GraphRunner(const ComputeDevice& device)
      : device_(device),
        galloc_(ggml_gallocr_new(ggml_backend_get_default_buffer_type(device.backend()))) {}
  ~GraphRunner() { ggml_gallocr_free(galloc_); }
  GraphRunner(const GraphRunner&) = delete;
  GraphRunner& operator=(const GraphRunner&) = delete;

  void allocate(ggml_cgraph* graph) {
    if (!ggml_gallocr_alloc_graph(galloc_, graph)) {
      throw Error(ErrorCode::kResourceExhausted,
                  "trainer: cannot allocate the compute buffer on " + device_.name());
    }
  }
  void compute(ggml_cgraph* graph) {
    const ggml_status status = ggml_backend_graph_compute(device_.backend(), graph);
    if (status != GGML_STATUS_SUCCESS) {
      throw Error(ErrorCode::kInternal, "trainer: the graph failed on " + device_.name() +
                                            " (ggml status " + std::to_string(status) + ")");
    }
  }

 private:
  const ComputeDevice& device_;
  ggml_gallocr_t galloc_;
};

float read_scalar(const ggml_tensor* t) {
  float value = 0;
  ggml_backend_tensor_get(t, &value, 0, sizeof(value));
  return value;
}

void set_scalar(ggml_tensor* t, float value) {
  ggml_backend_tensor_set(t, &value, 0, sizeof(value));
}

// Marks the adapter's tensors as what the backward pass differentiates for.
void mark_parameters(const LoraWeights& lora) {
  for (ggml_tensor* p : lora.parameters()) ggml_set_param(p);
}

// Owns the AdamW moments (zero at first) on the device.
class MomentStore {
 public:
  MomentStore(const LoraWeights& lora, const ComputeDevice& device) {
    const size_t n = lora.parameters().size();
    ctx_.reset(ggml_init({2 * n * ggml_tensor_overhead() + 1024, nullptr, true}));
    for (ggml_tensor* p : lora.parameters()) {
      moments_.m.push_back(ggml_dup_tensor(ctx_.get(), p));
      moments_.v.push_back(ggml_dup_tensor(ctx_.get(), p));
    }
    buffer_ = ggml_backend_alloc_ctx_tensors(ctx_.get(), device.backend());
    if (buffer_ == nullptr)
      throw Error(ErrorCode::kResourceExhausted, "trainer: no memory for AdamW");
    ggml_backend_buffer_clear(buffer_, 0);
  }
  ~MomentStore() { ggml_backend_buffer_free(buffer_); }
  MomentStore(const MomentStore&) = delete;
  MomentStore& operator=(const MomentStore&) = delete;
  AdamMoments& moments() { return moments_; }

 private:
  GgmlContextPtr ctx_;
  ggml_backend_buffer_t buffer_ = nullptr;
  AdamMoments moments_;
};

// The examples' order in `epoch`: a Fisher-Yates shuffle drawn from the seed and the epoch
// alone (not std::shuffle, whose algorithm the standard leaves open), so a resumed run visits
// the examples exactly as the uninterrupted one would.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint32_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 engine(seed * 0x9e3779b97f4a7c15ull + epoch);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[engine() % i]);
  return order;
}

std::string run_fingerprint(const BaseModel& base, const std::vector<llm::TrainingTokens>& examples,
                            const TrainOptions& o) {
  Sha256 hash;
  std::error_code ec;
  hash.update(std::filesystem::absolute(base.path(), ec).string() + "\n");
  hash.update(std::to_string(std::filesystem::file_size(base.path(), ec)) + "\n");
  std::string targets;
  for (const auto& t : o.lora.targets) targets += t + ",";
  hash.update(std::to_string(o.lora.rank) + " " + std::to_string(o.lora.alpha) + " " + targets +
              " " + std::to_string(o.epochs) + " " + std::to_string(o.learning_rate) + " " +
              std::to_string(o.weight_decay) + " " + std::to_string(o.beta1) + " " +
              std::to_string(o.beta2) + " " + std::to_string(o.epsilon) + " " +
              std::to_string(o.seed) + "\n");
  for (const llm::TrainingTokens& ex : examples) {
    hash.update(std::string_view(reinterpret_cast<const char*>(ex.tokens.data()),
                                 ex.tokens.size() * sizeof(int32_t)));
    hash.update(
        std::string_view(reinterpret_cast<const char*>(ex.target.data()), ex.target.size()));
    hash.update("\n");
  }
  return hash.hex();
}

// One optimizer step on `ex`: forward, backward, AdamW. Returns the example's loss.
float train_step(const BaseModel& base, const LoraWeights& lora, AdamMoments& moments,
                 GraphRunner& runner, const llm::TrainingTokens& ex, const TrainOptions& o,
                 uint64_t step_number) {
  ExampleGraph g = build_example(base, &lora, ex);
  ggml_context* ctx = g.ctx.get();
  ggml_build_backward_expand(ctx, g.graph, /*grad_accs=*/nullptr);
  ggml_tensor* adamw = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 7);
  ggml_set_input(adamw);
  const auto& params = lora.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    ggml_tensor* grad = ggml_graph_get_grad(g.graph, params[i]);
    if (grad == nullptr)
      throw Error(ErrorCode::kInternal, "trainer: a LoRA tensor has no gradient");
    ggml_build_forward_expand(
        g.graph, ggml_opt_step_adamw(ctx, params[i], grad, moments.m[i], moments.v[i], adamw));
  }
  ggml_tensor* loss_grad = ggml_graph_get_grad_acc(g.graph, g.loss);
  ggml_set_input(loss_grad);
  runner.allocate(g.graph);
  set_example_inputs(g, ex, base.hparams().n_vocab);
  set_scalar(loss_grad, 1.0f);
  const auto t = static_cast<float>(step_number);
  const float params_data[7] = {o.learning_rate,
                                o.beta1,
                                o.beta2,
                                o.epsilon,
                                o.weight_decay,
                                1.0f / (1.0f - std::pow(o.beta1, t)),
                                1.0f / (1.0f - std::pow(o.beta2, t))};
  ggml_backend_tensor_set(adamw, params_data, 0, sizeof(params_data));
  runner.compute(g.graph);
  return read_scalar(g.loss);
}

std::vector<float> epoch_means(const std::vector<float>& losses, size_t per_epoch) {
  std::vector<float> out;
  for (size_t start = 0; start + per_epoch <= losses.size(); start += per_epoch) {
    double sum = 0;
    for (size_t i = start; i < start + per_epoch; ++i) sum += static_cast<double>(losses[i]);
    out.push_back(static_cast<float>(sum / static_cast<double>(per_epoch)));
  }
  return out;
}

}  // namespace

void validate_train_options(const TrainOptions& o) {
  const auto bad = [](const std::string& what) { throw_invalid_argument("training: " + what); };
  if (o.epochs < 1 || o.epochs > 10000)
    bad("epochs " + std::to_string(o.epochs) + ": must be 1..10000");
  if (!(o.learning_rate > 0.0f && o.learning_rate < 1.0f)) {
    bad("learning rate " + std::to_string(o.learning_rate) + ": must be in (0, 1)");
  }
  if (!(o.weight_decay >= 0.0f && o.weight_decay < 1.0f)) {
    bad("weight decay " + std::to_string(o.weight_decay) + ": must be in [0, 1)");
  }
  if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f)) {
    bad("AdamW betas must be in [0, 1)");
  }
  if (!(o.epsilon > 0.0f)) bad("AdamW epsilon must be > 0");
  if (o.max_tokens < 2 || o.max_tokens > 65536) {
    bad("max tokens " + std::to_string(o.max_tokens) + ": must be 2..65536");
  }
  if (o.checkpoint_every < 1) bad("checkpoint interval must be at least 1 step");
  if (o.lora.targets.empty()) bad("no LoRA target tensors");
}

LoraTrainer::LoraTrainer(const BaseModel& base, const ComputeDevice& device, TrainOptions options)
    : base_(base), device_(device), options_(std::move(options)) {
  validate_train_options(options_);
}

TrainReport LoraTrainer::train(const std::vector<llm::TrainingTokens>& examples,
                               const std::filesystem::path& out,
                               const std::map<std::string, std::string>& metadata,
                               const TrainProgressFn& on_progress) {
  if (examples.empty()) throw_invalid_argument("training: no examples");
  for (size_t i = 0; i < examples.size(); ++i) {
    check_example(examples[i], i, base_.hparams().n_vocab, options_.max_tokens);
  }
  std::unique_ptr<LoraWeights> lora =
      LoraWeights::create(base_, options_.lora, options_.seed, device_);
  mark_parameters(*lora);
  MomentStore moments(*lora, device_);
  const std::string fingerprint = run_fingerprint(base_, examples, options_);
  TrainState state;
  TrainReport report;
  report.parameters = lora->parameter_count();
  if (!options_.checkpoint.empty() &&
      read_train_checkpoint(options_.checkpoint, fingerprint, *lora, moments.moments(), state)) {
    report.resumed_at_step = state.step;
  }
  const uint64_t total = static_cast<uint64_t>(examples.size()) * options_.epochs;
  GraphRunner runner(device_);
  const auto started = std::chrono::steady_clock::now();
  const auto checkpoint = [&] {
    if (!options_.checkpoint.empty()) {
      write_train_checkpoint(options_.checkpoint, fingerprint, *lora, moments.moments(), state);
    }
  };
  while (state.step < total) {
    const auto epoch = static_cast<uint32_t>(state.step / examples.size());
    const std::vector<size_t> order = epoch_order(examples.size(), options_.seed, epoch);
    const llm::TrainingTokens& ex = examples[order[state.step % examples.size()]];
    const float loss =
        train_step(base_, *lora, moments.moments(), runner, ex, options_, state.step + 1);
    if (!std::isfinite(loss)) {
      checkpoint();
      throw Error(ErrorCode::kFailedPrecondition,
                  "training diverged at step " + std::to_string(state.step + 1) +
                      " (the loss is not finite); lower the learning rate");
    }
    state.step += 1;
    state.step_losses.push_back(loss);
    if (options_.evaluate_epoch && state.step % examples.size() == 0) {
      state.epoch_evaluations.push_back(options_.evaluate_epoch(*lora));
    }
    report.tokens += ex.tokens.size();
    if (state.step % options_.checkpoint_every == 0 && state.step < total) checkpoint();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    TrainProgress progress;
    progress.step = state.step;
    progress.total_steps = total;
    progress.epoch = epoch + 1;
    progress.epochs = options_.epochs;
    progress.loss = loss;
    progress.tokens_per_second = seconds > 0 ? static_cast<double>(report.tokens) / seconds : 0;
    const uint64_t done_here = state.step - report.resumed_at_step;
    progress.eta_seconds =
        seconds / static_cast<double>(done_here) * static_cast<double>(total - state.step);
    if (on_progress && !on_progress(progress) && state.step < total) {
      checkpoint();
      throw Error(ErrorCode::kCancelled,
                  "training cancelled after step " + std::to_string(state.step) + " of " +
                      std::to_string(total) +
                      (options_.checkpoint.empty()
                           ? std::string(" (no checkpoint: it starts over next time)")
                           : "; run it again to resume from " + options_.checkpoint.string()));
    }
  }
  std::map<std::string, std::string> keys = metadata;
  keys["a4ps.train.steps"] = std::to_string(state.step);
  keys["a4ps.train.final_loss"] = std::to_string(state.step_losses.back());
  lora->save(out, keys);
  if (!options_.checkpoint.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.checkpoint, ec);
  }
  report.steps = state.step;
  report.step_losses = state.step_losses;
  report.epoch_losses = epoch_means(state.step_losses, examples.size());
  report.epoch_evaluations = state.epoch_evaluations;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::vector<double> example_losses(const BaseModel& base, const LoraWeights* lora,
                                   const ComputeDevice& device,
                                   const std::vector<llm::TrainingTokens>& examples) {
  GraphRunner runner(device);
  std::vector<double> out;
  out.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    check_example(examples[i], i, base.hparams().n_vocab, 65536);
    ExampleGraph g = build_example(base, lora, examples[i]);
    runner.allocate(g.graph);
    set_example_inputs(g, examples[i], base.hparams().n_vocab);
    runner.compute(g.graph);
    out.push_back(read_scalar(g.loss));
  }
  return out;
}

std::vector<float> forward_logits(const BaseModel& base, const LoraWeights* lora,
                                  const ComputeDevice& device, const std::vector<int32_t>& tokens) {
  if (tokens.empty()) throw_invalid_argument("forward_logits: no tokens");
  GgmlContextPtr ctx(ggml_init({graph_context_bytes(base), nullptr, /*no_alloc=*/true}));
  const auto n = static_cast<int64_t>(tokens.size());
  SequenceGraph seq = build_sequence(ctx.get(), base, lora, n);
  ggml_tensor* rows = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_I32, n);
  ggml_set_input(rows);
  ggml_tensor* logits = build_logits(ctx.get(), base, lora, seq.hidden, rows);
  ggml_set_output(logits);
  ggml_cgraph* graph = ggml_new_graph_custom(ctx.get(), graph_node_budget(base), false);
  ggml_build_forward_expand(graph, logits);
  GraphRunner runner(device);
  runner.allocate(graph);
  set_sequence_inputs(seq, tokens);
  std::vector<int32_t> all(tokens.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int32_t>(i);
  ggml_backend_tensor_set(rows, all.data(), 0, ggml_nbytes(rows));
  runner.compute(graph);
  std::vector<float> out(static_cast<size_t>(ggml_nelements(logits)));
  ggml_backend_tensor_get(logits, out.data(), 0, ggml_nbytes(logits));
  return out;
}

LossAndGradients loss_and_gradients(const BaseModel& base, const LoraWeights& lora,
                                    const ComputeDevice& device,
                                    const llm::TrainingTokens& example) {
  check_example(example, 0, base.hparams().n_vocab, 65536);
  mark_parameters(lora);
  ExampleGraph g = build_example(base, &lora, example);
  ggml_build_backward_expand(g.ctx.get(), g.graph, nullptr);
  std::vector<ggml_tensor*> grads;
  for (ggml_tensor* p : lora.parameters()) {
    ggml_tensor* grad = ggml_graph_get_grad(g.graph, p);
    if (grad == nullptr) throw Error(ErrorCode::kInternal, "a LoRA tensor has no gradient");
    ggml_set_output(grad);
    grads.push_back(grad);
  }
  ggml_tensor* loss_grad = ggml_graph_get_grad_acc(g.graph, g.loss);
  ggml_set_input(loss_grad);
  GraphRunner runner(device);
  runner.allocate(g.graph);
  set_example_inputs(g, example, base.hparams().n_vocab);
  set_scalar(loss_grad, 1.0f);
  runner.compute(g.graph);
  LossAndGradients out;
  out.loss = read_scalar(g.loss);
  for (ggml_tensor* grad : grads) {
    std::vector<float> values(static_cast<size_t>(ggml_nelements(grad)));
    ggml_backend_tensor_get(grad, values.data(), 0, ggml_nbytes(grad));
    out.gradients.push_back(std::move(values));
  }
  return out;
}

}  // namespace a4ps::evolve
