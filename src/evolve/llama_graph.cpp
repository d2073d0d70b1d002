#include "evolve/llama_graph.h"

#include <ggml-backend.h>
#include <ggml.h>

#include <cmath>
#include <limits>

namespace a4ps::evolve {
namespace {

// W·x, plus scale·B·(A·x) when the LoRA adapts W (llama.cpp's build_lora_mm).
ggml_tensor* project(ggml_context* ctx, const LoraWeights* lora, ggml_tensor* weight,
                     ggml_tensor* x) {
  ggml_tensor* out = ggml_mul_mat(ctx, weight, x);
  const LoraPair* pair = lora != nullptr ? lora->find(weight) : nullptr;
  if (pair == nullptr) return out;
  ggml_tensor* low_rank = ggml_mul_mat(ctx, pair->b, ggml_mul_mat(ctx, pair->a, x));
  return ggml_add(ctx, out, ggml_scale(ctx, low_rank, pair->scale));
}

ggml_tensor* rms_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* weight, float eps) {
  return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

// Rotary embedding as llama.cpp applies it to a llama model (LLAMA_ROPE_TYPE_NORM, no YaRN).
ggml_tensor* rope(ggml_context* ctx, const BaseModel& model, ggml_tensor* x,
                  ggml_tensor* positions) {
  const LlamaHparams& h = model.hparams();
  return ggml_rope_ext(ctx, x, positions, model.rope_freqs(), static_cast<int>(h.n_rot),
                       /*mode=*/0, static_cast<int>(h.n_ctx_train), h.rope_freq_base,
                       h.rope_freq_scale, /*ext_factor=*/0.0f, /*attn_factor=*/1.0f,
                       /*beta_fast=*/32.0f, /*beta_slow=*/1.0f);
}

ggml_tensor* attention(ggml_context* ctx, const BaseModel& model, const LoraWeights* lora,
                       const LayerWeights& layer, ggml_tensor* x, const SequenceGraph& in,
                       int64_t n_tokens) {
  const LlamaHparams& h = model.hparams();
  const int64_t head_dim = h.head_dim();
  ggml_tensor* q =
      ggml_reshape_3d(ctx, project(ctx, lora, layer.attn_q, x), head_dim, h.n_head, n_tokens);
  ggml_tensor* k =
      ggml_reshape_3d(ctx, project(ctx, lora, layer.attn_k, x), head_dim, h.n_head_kv, n_tokens);
  ggml_tensor* v =
      ggml_reshape_3d(ctx, project(ctx, lora, layer.attn_v, x), head_dim, h.n_head_kv, n_tokens);
  q = ggml_cont(ctx, ggml_permute(ctx, rope(ctx, model, q, in.positions), 0, 2, 1, 3));
  k = ggml_cont(ctx, ggml_permute(ctx, rope(ctx, model, k, in.positions), 0, 2, 1, 3));
  v = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [n_tokens, head_dim, n_head_kv]
  ggml_tensor* scores = ggml_mul_mat(ctx, k, q);         // [n_tokens(k), n_tokens(q), n_head]
  scores = ggml_soft_max_ext(ctx, scores, in.causal_mask,
                             1.0f / std::sqrt(static_cast<float>(head_dim)), 0.0f);
  ggml_tensor* mixed = ggml_mul_mat(ctx, v, scores);  // [head_dim, n_tokens, n_head]
  mixed = ggml_cont_2d(ctx, ggml_permute(ctx, mixed, 0, 2, 1, 3), h.n_embd, n_tokens);
  return project(ctx, lora, layer.attn_output, mixed);
}

ggml_tensor* feed_forward(ggml_context* ctx, const LoraWeights* lora, const LayerWeights& layer,
                          ggml_tensor* x) {
  ggml_tensor* gate = project(ctx, lora, layer.ffn_gate, x);
  ggml_tensor* up = project(ctx, lora, layer.ffn_up, x);
  return project(ctx, lora, layer.ffn_down, ggml_swiglu_split(ctx, gate, up));
}

}  // namespace

SequenceGraph build_sequence(ggml_context* ctx, const BaseModel& model, const LoraWeights* lora,
                             int64_t n_tokens) {
  const LlamaHparams& h = model.hparams();
  SequenceGraph g;
  g.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
  g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
  g.causal_mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_tokens, n_tokens);
  for (ggml_tensor* t : {g.tokens, g.positions, g.causal_mask}) ggml_set_input(t);
  ggml_tensor* x = ggml_get_rows(ctx, model.token_embd(), g.tokens);
  for (const LayerWeights& layer : model.layers()) {
    ggml_tensor* attended = attention(ctx, model, lora, layer,
                                      rms_norm(ctx, x, layer.attn_norm, h.rms_eps), g, n_tokens);
    x = ggml_add(ctx, x, attended);
    x = ggml_add(ctx, x,
                 feed_forward(ctx, lora, layer, rms_norm(ctx, x, layer.ffn_norm, h.rms_eps)));
  }
  g.hidden = x;
  return g;
}

ggml_tensor* build_logits(ggml_context* ctx, const BaseModel& model, const LoraWeights* lora,
                          ggml_tensor* hidden, ggml_tensor* rows) {
  ggml_tensor* picked = ggml_get_rows(ctx, hidden, rows);
  picked = rms_norm(ctx, picked, model.output_norm(), model.hparams().rms_eps);
  return project(ctx, lora, model.output(), picked);
}

void set_sequence_inputs(const SequenceGraph& graph, const std::vector<int32_t>& tokens) {
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> positions(tokens.size());
  for (int64_t i = 0; i < n; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  std::vector<float> mask(static_cast<size_t>(n * n));
  for (int64_t q = 0; q < n; ++q) {
    for (int64_t k = 0; k < n; ++k) {
      mask[static_cast<size_t>(q * n + k)] =
          k <= q ? 0.0f : -std::numeric_limits<float>::infinity();
    }
  }
  ggml_backend_tensor_set(graph.tokens, tokens.data(), 0, ggml_nbytes(graph.tokens));
  ggml_backend_tensor_set(graph.positions, positions.data(), 0, ggml_nbytes(graph.positions));
  ggml_backend_tensor_set(graph.causal_mask, mask.data(), 0, ggml_nbytes(graph.causal_mask));
}

size_t graph_node_budget(const BaseModel& model) {
  // A layer is under 100 forward nodes with every target adapted; the backward pass and the
  // optimizer steps take about four times as many again.
  return 2048 + static_cast<size_t>(model.hparams().n_layer) * 512;
}

size_t graph_context_bytes(const BaseModel& model) {
  const size_t nodes = graph_node_budget(model);
  return nodes * ggml_tensor_overhead() * 2 + ggml_graph_overhead_custom(nodes, /*grads=*/true);
}

}  // namespace a4ps::evolve
