// The LoRA trainer against llama.cpp itself: the forward pass with an adapter gives llama.cpp's
// logits, a zero B changes nothing, the gradients agree with finite differences, training
// lowers the loss, and a cancelled run resumes to the same bytes as an uninterrupted one.
#include "evolve/trainer.h"

#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>

#include "core/error.h"
#include "evolve/base_model.h"
#include "evolve/lora.h"
#include "llm/llama_backend.h"
#include "llm/test_model.h"
#include "support/test_models.h"

namespace a4ps::evolve {
namespace {

using a4ps::testing::scratch_dir;

llm::TestModelSpec small_spec(llm::WeightType type) {
  llm::TestModelSpec spec;
  spec.seed = 11;
  spec.n_layer = 2;
  spec.n_embd = 64;
  spec.n_head = 4;
  spec.n_head_kv = 2;  // grouped-query attention, as most real models have
  spec.n_ff = 96;
  spec.n_ctx = 512;
  spec.type = type;
  return spec;
}

std::filesystem::path model_file(llm::WeightType type) {
  static std::map<llm::WeightType, std::filesystem::path> made;
  auto& path = made[type];
  if (path.empty()) {
    path = scratch_dir() / ("trainer-base-" + std::to_string(static_cast<int>(type)) + ".gguf");
    llm::write_test_model(small_spec(type), path);
  }
  return path;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A scratch file name of its own for each weight type.
std::filesystem::path scratch_for(const std::string& name, llm::WeightType type) {
  return scratch_dir() / (name + "-" + std::to_string(static_cast<int>(type)) + ".gguf");
}

std::unique_ptr<llm::LlamaBackend> tokenizer_for(const std::filesystem::path& model) {
  llm::LlamaLoadParams params;
  params.path = model;
  params.vocab_only = true;
  return llm::LlamaBackend::create(params);
}

std::vector<llm::TrainingTokens> chat_examples(const std::filesystem::path& model) {
  auto tokenizer = tokenizer_for(model);
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"What colour is the sky?", "The sky is blue on a clear day."},
      {"Name a prime number.", "Seven is a prime number."},
      {"Who wrote Hamlet?", "William Shakespeare wrote Hamlet."},
      {"What is two plus two?", "Two plus two is four."},
  };
  std::vector<llm::TrainingTokens> out;
  for (const auto& [question, answer] : pairs) {
    out.push_back(tokenizer->training_tokens({{llm::Role::kSystem, "You are BRICK."},
                                              {llm::Role::kUser, question},
                                              {llm::Role::kAssistant, answer}}));
  }
  return out;
}

float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

std::vector<float> llama_logits(const std::filesystem::path& model,
                                const std::vector<int32_t>& tokens,
                                const std::vector<llm::LoraAdapter>& adapters) {
  llm::LlamaLoadParams params;
  params.path = model;
  params.n_ctx = 512;
  params.reference_precision = true;
  auto backend = llm::LlamaBackend::create(params);
  return backend->sequence_logits(tokens, adapters);
}

class TrainerTest : public ::testing::TestWithParam<llm::WeightType> {
 protected:
  void SetUp() override { device_ = ComputeDevice::create(2); }
  std::unique_ptr<ComputeDevice> device_;
};

TEST_P(TrainerTest, ForwardPassWithAnAdapterGivesLlamaCppsLogits) {
  const auto model = model_file(GetParam());
  const auto adapter = scratch_for("trainer-random-lora", GetParam());
  llm::write_test_lora(small_spec(GetParam()), 5, 4, adapter);
  auto base = BaseModel::load(model, *device_);
  auto lora = LoraWeights::load(adapter, *base, *device_);
  const std::vector<int32_t> tokens = chat_examples(model)[0].tokens;

  const std::vector<float> ours_plain = forward_logits(*base, nullptr, *device_, tokens);
  const std::vector<float> ours = forward_logits(*base, lora.get(), *device_, tokens);
  const std::vector<float> theirs_plain = llama_logits(model, tokens, {});
  const std::vector<float> theirs = llama_logits(model, tokens, {{adapter.string(), 1.0f}});
  EXPECT_LT(max_abs_difference(ours_plain, theirs_plain), 2e-3f);
  EXPECT_LT(max_abs_difference(ours, theirs), 2e-3f);
  // And the adapter does change the logits, by far more than the tolerance.
  EXPECT_GT(max_abs_difference(ours, ours_plain), 0.05f);
}

TEST_P(TrainerTest, AnAdapterWhoseBIsZeroChangesNothing) {
  const auto model = model_file(GetParam());
  auto base = BaseModel::load(model, *device_);
  LoraOptions options;
  options.targets = lora_target_names();
  auto lora = LoraWeights::create(*base, options, 3, *device_);
  const std::vector<int32_t> tokens = chat_examples(model)[1].tokens;
  EXPECT_EQ(forward_logits(*base, lora.get(), *device_, tokens),
            forward_logits(*base, nullptr, *device_, tokens));
  const auto file = scratch_for("trainer-zero-b", GetParam());
  lora->save(file, {});
  EXPECT_EQ(llama_logits(model, tokens, {{file.string(), 1.0f}}), llama_logits(model, tokens, {}));
}

// On F32 weights only: with F16 or Q8_0 weights ggml rounds the activations to the weights'
// type before each product, so a small step in a parameter moves the loss in jumps.
TEST(Trainer, GradientsAgreeWithFiniteDifferences) {
  auto device_ = ComputeDevice::create(2);
  const auto model = model_file(llm::WeightType::kF32);
  const auto adapter = scratch_dir() / "trainer-fd-lora.gguf";
  llm::write_test_lora(small_spec(llm::WeightType::kF32), 9, 4, adapter);
  auto base = BaseModel::load(model, *device_);
  auto lora = LoraWeights::load(adapter, *base, *device_);
  const llm::TrainingTokens example = chat_examples(model)[2];
  const LossAndGradients analytic = loss_and_gradients(*base, *lora, *device_, example);
  ASSERT_EQ(analytic.gradients.size(), lora->parameters().size());
  // For a few tensors (an A and a B in each layer), the entries of the largest gradient.
  int checked = 0;
  for (size_t p = 0; p < lora->parameters().size(); p += 3) {
    ggml_tensor* tensor = lora->parameters()[p];
    const std::vector<float>& grad = analytic.gradients[p];
    const auto largest = static_cast<size_t>(
        std::max_element(grad.begin(), grad.end(),
                         [](float a, float b) { return std::fabs(a) < std::fabs(b); }) -
        grad.begin());
    float original = 0;
    const size_t offset = largest * sizeof(float);
    ggml_backend_tensor_get(tensor, &original, offset, sizeof(float));
    const float h = 1e-2f;
    const auto loss_at = [&](float value) {
      ggml_backend_tensor_set(tensor, &value, offset, sizeof(float));
      return example_losses(*base, lora.get(), *device_, {example})[0];
    };
    const double numeric =
        (loss_at(original + h) - loss_at(original - h)) / (2.0 * static_cast<double>(h));
    ggml_backend_tensor_set(tensor, &original, offset, sizeof(float));
    const auto exact = static_cast<double>(grad[largest]);
    SCOPED_TRACE(std::string(ggml_get_name(tensor)) + "[" + std::to_string(largest) + "]");
    EXPECT_GT(std::fabs(exact), 1e-4);
    EXPECT_NEAR(numeric, exact, 0.03 * std::fabs(exact) + 2e-4);
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TrainOptions quick_options() {
  TrainOptions options;
  options.epochs = 12;
  options.learning_rate = 1e-2f;
  options.lora.rank = 4;
  options.lora.targets = lora_target_names();
  options.seed = 7;
  return options;
}

TEST_P(TrainerTest, TrainingLowersTheLossOnAMemorisationSet) {
  const auto model = model_file(GetParam());
  auto base = BaseModel::load(model, *device_);
  const auto examples = chat_examples(model);
  LoraTrainer trainer(*base, *device_, quick_options());
  const auto out = scratch_for("trainer-memorised", GetParam());
  uint64_t calls = 0;
  const TrainReport report =
      trainer.train(examples, out, {{"a4ps.persona", "BRICK"}}, [&](const TrainProgress& p) {
        ++calls;
        EXPECT_EQ(p.step, calls);
        EXPECT_EQ(p.total_steps, 48u);
        EXPECT_GE(p.eta_seconds, 0.0);
        return true;
      });
  EXPECT_EQ(report.steps, 48u);
  EXPECT_EQ(calls, 48u);
  ASSERT_EQ(report.epoch_losses.size(), 12u);
  EXPECT_LT(report.epoch_losses.back(), 0.5f * report.epoch_losses.front());
  // The adapter the trainer wrote is one llama.cpp applies, and it lowers the loss there too.
  auto trained = LoraWeights::load(out, *base, *device_);
  const auto before = example_losses(*base, nullptr, *device_, examples);
  const auto after = example_losses(*base, trained.get(), *device_, examples);
  for (size_t i = 0; i < examples.size(); ++i) EXPECT_LT(after[i], before[i]);
  const auto logits = forward_logits(*base, trained.get(), *device_, examples[0].tokens);
  EXPECT_LT(
      max_abs_difference(logits, llama_logits(model, examples[0].tokens, {{out.string(), 1.0f}})),
      5e-3f);
}

TEST_P(TrainerTest, ACancelledRunResumesToTheSameAdapter) {
  const auto model = model_file(GetParam());
  auto base = BaseModel::load(model, *device_);
  const auto examples = chat_examples(model);
  TrainOptions options = quick_options();
  options.epochs = 2;
  const auto whole = scratch_for("trainer-whole", GetParam());
  LoraTrainer(*base, *device_, options).train(examples, whole, {}, nullptr);

  options.checkpoint = scratch_for("trainer-resume-ckpt", GetParam());
  options.checkpoint_every = 2;
  const auto resumed = scratch_for("trainer-resumed", GetParam());
  try {
    LoraTrainer(*base, *device_, options).train(examples, resumed, {}, [](const TrainProgress& p) {
      return p.step < 5;
    });
    FAIL() << "the cancel was not honoured";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
    EXPECT_NE(std::string(e.what()).find("after step 5 of 8"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(resumed));
  EXPECT_TRUE(std::filesystem::exists(options.checkpoint));
  const TrainReport report =
      LoraTrainer(*base, *device_, options).train(examples, resumed, {}, nullptr);
  EXPECT_EQ(report.resumed_at_step, 5u);
  EXPECT_EQ(report.step_losses.size(), 8u);
  EXPECT_EQ(read_bytes(resumed), read_bytes(whole));
  EXPECT_FALSE(std::filesystem::exists(options.checkpoint));

  // A checkpoint of another run is refused, not silently used or overwritten.
  EXPECT_THROW(LoraTrainer(*base, *device_, options)
                   .train(examples, resumed, {}, [](const TrainProgress& p) { return p.step < 2; }),
               Error);
  options.learning_rate = 3e-3f;
  try {
    LoraTrainer(*base, *device_, options).train(examples, resumed, {}, nullptr);
    FAIL() << "another run's checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("belongs to another training run"), std::string::npos);
  }
  std::filesystem::remove(options.checkpoint);
}

INSTANTIATE_TEST_SUITE_P(Types, TrainerTest,
                         ::testing::Values(llm::WeightType::kF32, llm::WeightType::kF16,
                                           llm::WeightType::kQ8_0),
                         [](const auto& p) {
                           switch (p.param) {
                             case llm::WeightType::kF32:
                               return std::string("F32");
                             case llm::WeightType::kF16:
                               return std::string("F16");
                             default:
                               return std::string("Q8_0");
                           }
                         });

}  // namespace
}  // namespace a4ps::evolve

namespace a4ps::evolve {
namespace {

// The tiny F32 model with one tensor re-typed to `type` (quantized from its F32 values).
std::filesystem::path retyped_model(ggml_type type, const std::string& tensor) {
  const auto source = model_file(llm::WeightType::kF32);
  const auto out =
      scratch_dir() / ("trainer-retyped-" + std::string(ggml_type_name(type)) + ".gguf");
  ggml_context* data = nullptr;
  gguf_context* meta = gguf_init_from_file(source.string().c_str(), {false, &data});
  gguf_context* copy = gguf_init_empty();
  gguf_set_kv(copy, meta);
  ggml_context* extra = ggml_init({64u << 20, nullptr, false});
  for (int64_t i = 0; i < gguf_get_n_tensors(meta); ++i) {
    ggml_tensor* t = ggml_get_tensor(data, gguf_get_tensor_name(meta, i));
    if (tensor != ggml_get_name(t)) {
      gguf_add_tensor(copy, t);
      continue;
    }
    ggml_tensor* q = ggml_new_tensor_2d(extra, type, t->ne[0], t->ne[1]);
    ggml_set_name(q, ggml_get_name(t));
    ggml_quantize_chunk(type, static_cast<const float*>(t->data), q->data, 0, t->ne[1], t->ne[0],
                        nullptr);
    gguf_add_tensor(copy, q);
  }
  EXPECT_TRUE(gguf_write_to_file(copy, out.string().c_str(), false));
  gguf_free(copy);
  gguf_free(meta);
  ggml_free(extra);
  ggml_free(data);
  return out;
}

void expect_refused(const std::function<void()>& call, ErrorCode code, const std::string& words) {
  try {
    call();
    ADD_FAILURE() << "not refused; expected: " << words;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(Trainer, RefusesWhatItCannotTrainBeforeTheFirstStep) {
  auto device = ComputeDevice::create(1);
  expect_refused(
      [&] { BaseModel::load(retyped_model(GGML_TYPE_Q4_0, "blk.1.ffn_up.weight"), *device); },
      ErrorCode::kInvalidArgument,
      "blk.1.ffn_up.weight is q4_0; the trainer can backpropagate through F32, F16 and "
      "Q8_0 weights only");
  const auto adapter = scratch_dir() / "trainer-as-base.gguf";
  llm::write_test_lora(small_spec(llm::WeightType::kF32), 1, 2, adapter);
  expect_refused([&] { BaseModel::load(adapter, *device); }, ErrorCode::kInvalidArgument, "");
  expect_refused([&] { BaseModel::load(scratch_dir() / "nothing.gguf", *device); },
                 ErrorCode::kNotFound, "");

  auto base = BaseModel::load(model_file(llm::WeightType::kF32), *device);
  TrainOptions options;
  options.max_tokens = 16;
  LoraTrainer trainer(*base, *device, options);
  const auto out = scratch_dir() / "trainer-refused.gguf";
  auto examples = chat_examples(model_file(llm::WeightType::kF32));
  expect_refused([&] { trainer.train({}, out, {}, nullptr); }, ErrorCode::kInvalidArgument,
                 "no examples");
  expect_refused([&] { trainer.train(examples, out, {}, nullptr); }, ErrorCode::kInvalidArgument,
                 "example 1: ");
  llm::TrainingTokens prompt_only = examples[0];
  prompt_only.tokens.resize(10);
  prompt_only.target.assign(10, 0);
  expect_refused([&] { trainer.train({prompt_only}, out, {}, nullptr); },
                 ErrorCode::kInvalidArgument, "has no assistant tokens to train on");
  llm::TrainingTokens foreign = prompt_only;
  foreign.tokens[3] = 999999;
  foreign.target[5] = 1;
  expect_refused([&] { trainer.train({foreign}, out, {}, nullptr); }, ErrorCode::kInvalidArgument,
                 "token 999999 is outside the vocabulary");
  options.learning_rate = 0;
  expect_refused([&] { LoraTrainer(*base, *device, options); }, ErrorCode::kInvalidArgument,
                 "learning rate");
  LoraOptions bad_rank;
  bad_rank.rank = 0;
  expect_refused([&] { LoraWeights::create(*base, bad_rank, 1, *device); },
                 ErrorCode::kInvalidArgument, "LoRA rank 0");
  expect_refused([&] { parse_lora_targets("attn_q,lm_head"); }, ErrorCode::kInvalidArgument,
                 "LoRA target 'lm_head'");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Trainer, AnAdapterForAnotherModelIsRefused) {
  auto device = ComputeDevice::create(1);
  auto base = BaseModel::load(model_file(llm::WeightType::kF32), *device);
  llm::TestModelSpec other = small_spec(llm::WeightType::kF32);
  other.n_embd = 32;
  other.n_ff = 64;
  const auto adapter = scratch_dir() / "trainer-other-lora.gguf";
  llm::write_test_lora(other, 1, 2, adapter);
  expect_refused([&] { LoraWeights::load(adapter, *base, *device); }, ErrorCode::kInvalidArgument,
                 "");
}

}  // namespace
}  // namespace a4ps::evolve
