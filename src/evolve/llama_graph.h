// evolve/llama_graph: A4PS's own forward graph of a llama model over one token sequence, with
// a LoRA on some of its weights: the graph the trainer differentiates (ggml builds the backward
// pass from it) and the one evaluation uses. Attention is computed from this sequence's own K
// and V, not read from a KV cache, so the K and V projections get their gradients.
#pragma once

#include <cstdint>
#include <vector>

#include "evolve/base_model.h"
#include "evolve/lora.h"

namespace a4ps::evolve {

struct SequenceGraph {
  ggml_tensor* tokens = nullptr;       // input, I32 [n_tokens]
  ggml_tensor* positions = nullptr;    // input, I32 [n_tokens]
  ggml_tensor* causal_mask = nullptr;  // input, F32 [n_tokens, n_tokens]
  ggml_tensor* hidden = nullptr;       // [n_embd, n_tokens], after the last layer
};

// Builds the layers over n_tokens tokens in `ctx` (a no_alloc context). `lora` may be null.
SequenceGraph build_sequence(ggml_context* ctx, const BaseModel& model, const LoraWeights* lora,
                             int64_t n_tokens);

// The logits of the columns `rows` (I32 [n_rows]) of `hidden`: the output norm, then the
// output projection. [n_vocab, n_rows]
ggml_tensor* build_logits(ggml_context* ctx, const BaseModel& model, const LoraWeights* lora,
                          ggml_tensor* hidden, ggml_tensor* rows);

// Writes the sequence's inputs (after the graph is allocated): the tokens, positions 0..n-1
// and the causal mask.
void set_sequence_inputs(const SequenceGraph& graph, const std::vector<int32_t>& tokens);

// The metadata size a no_alloc context needs for the graph of `model`, and the node count to
// pass to ggml_new_graph_custom, with room for the backward pass and optimizer steps.
size_t graph_node_budget(const BaseModel& model);
size_t graph_context_bytes(const BaseModel& model);

}  // namespace a4ps::evolve
