#include "evolve/base_model.h"

#include <ggml-cpu.h>
#include <ggml.h>
#include <gguf.h>

#include <fstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "llm/ggml_log.h"
#include "llm/gguf_info.h"

namespace a4ps::evolve {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

bool is_trainable_matrix_type(ggml_type type) {
  return type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0;
}

// A metadata value of any unsigned or signed integer type, or `fallback` when absent.
uint64_t integer_key(const gguf_context* meta, const std::string& key, uint64_t fallback) {
  const int64_t id = gguf_find_key(meta, key.c_str());
  if (id < 0) return fallback;
  switch (gguf_get_kv_type(meta, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(meta, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(meta, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(meta, id);
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(meta, id);
    case GGUF_TYPE_INT32:
      return static_cast<uint64_t>(std::max(0, gguf_get_val_i32(meta, id)));
    default:
      throw_invalid_argument(key + ": expected an integer in the GGUF metadata");
  }
}

float float_key(const gguf_context* meta, const std::string& key, float fallback) {
  const int64_t id = gguf_find_key(meta, key.c_str());
  if (id < 0) return fallback;
  if (gguf_get_kv_type(meta, id) != GGUF_TYPE_FLOAT32) {
    throw_invalid_argument(key + ": expected a float in the GGUF metadata");
  }
  return gguf_get_val_f32(meta, id);
}

std::string string_key(const gguf_context* meta, const std::string& key) {
  const int64_t id = gguf_find_key(meta, key.c_str());
  if (id < 0 || gguf_get_kv_type(meta, id) != GGUF_TYPE_STRING) return "";
  return gguf_get_val_str(meta, id);
}

LlamaHparams read_hparams(const gguf_context* meta, const std::string& where) {
  LlamaHparams h;
  h.n_embd = static_cast<uint32_t>(integer_key(meta, "llama.embedding_length", 0));
  h.n_layer = static_cast<uint32_t>(integer_key(meta, "llama.block_count", 0));
  h.n_head = static_cast<uint32_t>(integer_key(meta, "llama.attention.head_count", 0));
  h.n_head_kv = static_cast<uint32_t>(integer_key(meta, "llama.attention.head_count_kv", h.n_head));
  h.n_ff = static_cast<uint32_t>(integer_key(meta, "llama.feed_forward_length", 0));
  h.n_ctx_train = static_cast<uint32_t>(integer_key(meta, "llama.context_length", 2048));
  if (h.n_embd == 0 || h.n_layer == 0 || h.n_head == 0 || h.n_ff == 0 || h.n_head_kv == 0 ||
      h.n_embd % h.n_head != 0 || h.n_head % h.n_head_kv != 0) {
    throw_invalid_argument(where + ": its llama.* shape metadata is missing or inconsistent");
  }
  h.n_rot = static_cast<uint32_t>(integer_key(meta, "llama.rope.dimension_count", h.head_dim()));
  if (h.n_rot == 0 || h.n_rot > h.head_dim() || h.n_rot % 2 != 0) {
    throw_invalid_argument(where + ": llama.rope.dimension_count = " + std::to_string(h.n_rot) +
                           ": must be even and at most the head size " +
                           std::to_string(h.head_dim()));
  }
  h.rms_eps = float_key(meta, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  h.rope_freq_base = float_key(meta, "llama.rope.freq_base", 10000.0f);
  const std::string scaling = string_key(meta, "llama.rope.scaling.type");
  if (!scaling.empty() && scaling != "none" && scaling != "linear") {
    throw_invalid_argument(where + ": rope scaling '" + scaling +
                           "' is not implemented by the trainer's graph (none and linear are)");
  }
  const float factor = float_key(meta, "llama.rope.scaling.factor", 1.0f);
  if (scaling == "linear" && factor > 0.0f) h.rope_freq_scale = 1.0f / factor;
  if (integer_key(meta, "llama.expert_count", 0) > 0) {
    throw_invalid_argument(where + ": a mixture-of-experts model; the trainer's graph is dense");
  }
  return h;
}

// Everything the trainer's graph does not implement, refused before any weight is read.
void check_tensors(const gguf_context* meta, const ggml_context* ctx, const std::string& where) {
  for (int64_t i = 0; i < gguf_get_n_tensors(meta); ++i) {
    const std::string name = gguf_get_tensor_name(meta, i);
    const ggml_tensor* t = ggml_get_tensor(const_cast<ggml_context*>(ctx), name.c_str());
    if (name.ends_with(".bias")) {
      throw_invalid_argument(where + ": has biases (" + name +
                             "); the trainer's llama graph has none");
    }
    const bool is_vector = ggml_n_dims(t) == 1;
    if (is_vector && t->type != GGML_TYPE_F32) {
      throw_invalid_argument(where + ": " + name + " is " + ggml_type_name(t->type) +
                             "; the trainer needs norm weights in F32");
    }
    if (!is_vector && !is_trainable_matrix_type(t->type)) {
      throw_invalid_argument(where + ": " + name + " is " + ggml_type_name(t->type) +
                             "; the trainer can backpropagate through " + trainable_weight_types() +
                             " weights only");
    }
  }
}

// Reads each tensor's bytes from the file into its place on the backend.
void read_weights(const std::filesystem::path& path, const gguf_context* meta, ggml_context* ctx) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, path.string() + ": cannot open the file");
  const size_t data_offset = gguf_get_data_offset(meta);
  std::vector<char> staging;
  for (int64_t i = 0; i < gguf_get_n_tensors(meta); ++i) {
    ggml_tensor* t = ggml_get_tensor(ctx, gguf_get_tensor_name(meta, i));
    const size_t bytes = ggml_nbytes(t);
    const bool host = ggml_backend_buffer_is_host(t->buffer);
    if (!host) staging.resize(bytes);
    char* dst = host ? static_cast<char*>(t->data) : staging.data();
    in.seekg(static_cast<std::streamoff>(data_offset + gguf_get_tensor_offset(meta, i)));
    in.read(dst, static_cast<std::streamsize>(bytes));
    if (!in) {
      throw Error(ErrorCode::kDataLoss,
                  path.string() + ": " + ggml_get_name(t) + " is cut short (truncated file?)");
    }
    if (!host) ggml_backend_tensor_set(t, staging.data(), 0, bytes);
  }
}

}  // namespace

std::unique_ptr<ComputeDevice> ComputeDevice::create(int32_t n_threads) {
  llm::install_ggml_log();
  ggml_backend_t backend = ggml_backend_cpu_init();
  if (backend == nullptr) throw Error(ErrorCode::kUnavailable, "ggml has no CPU backend");
  if (n_threads <= 0) {
    n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  }
  ggml_backend_cpu_set_n_threads(backend, n_threads);
  return std::unique_ptr<ComputeDevice>(new ComputeDevice(backend, n_threads));
}

ComputeDevice::~ComputeDevice() {
  ggml_backend_free(backend_);
}

std::string ComputeDevice::name() const {
  return ggml_backend_name(backend_);
}

std::string trainable_weight_types() {
  return "F32, F16 and Q8_0";
}

std::unique_ptr<BaseModel> BaseModel::load(const std::filesystem::path& path,
                                           const ComputeDevice& device) {
  const llm::GgufInfo info = llm::inspect_gguf(path);  // kNotFound, kDataLoss, kInvalidArgument
  const std::string where = path.string();
  if (info.architecture != "llama") {
    throw_invalid_argument(where + ": architecture '" + info.architecture +
                           "'; the trainer's graph implements llama only");
  }
  ggml_context* ctx = nullptr;
  llm::GgmlLogCapture capture;
  GgufPtr meta(gguf_init_from_file(where.c_str(), {/*no_alloc=*/true, &ctx}));
  if (!meta) {
    throw_invalid_argument(where + ": not a readable GGUF (" + capture.last_error_or("?") + ")");
  }
  std::unique_ptr<BaseModel> model(new BaseModel());
  model->ctx_ = ctx;
  model->path_ = path;
  if (string_key(meta.get(), "general.type") == "adapter") {
    throw_invalid_argument(where + ": is an adapter, not a base model");
  }
  model->hparams_ = read_hparams(meta.get(), where);
  check_tensors(meta.get(), ctx, where);
  model->buffer_ = ggml_backend_alloc_ctx_tensors(ctx, device.backend());
  if (model->buffer_ == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, where + ": cannot allocate " +
                                                   std::to_string(info.tensor_bytes >> 20) +
                                                   " MiB for its weights on " + device.name());
  }
  ggml_backend_buffer_set_usage(model->buffer_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  read_weights(path, meta.get(), ctx);
  for (ggml_tensor* t = ggml_get_first_tensor(ctx); t != nullptr;
       t = ggml_get_next_tensor(ctx, t)) {
    model->by_name_[ggml_get_name(t)] = t;
  }
  model->bind_tensors();
  return model;
}

void BaseModel::bind_tensors() {
  const auto need = [&](const std::string& name, int64_t ne0, int64_t ne1) {
    ggml_tensor* t = find(name);
    if (t == nullptr) throw_invalid_argument(path_.string() + ": has no tensor " + name);
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
      throw_invalid_argument(path_.string() + ": " + name + " has the shape [" +
                             std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) +
                             "], expected [" + std::to_string(ne0) + ", " + std::to_string(ne1) +
                             "]");
    }
    return t;
  };
  LlamaHparams& h = hparams_;
  ggml_tensor* embd = find("token_embd.weight");
  if (embd == nullptr) throw_invalid_argument(path_.string() + ": has no token_embd.weight");
  h.n_vocab = static_cast<uint32_t>(embd->ne[1]);
  token_embd_ = need("token_embd.weight", h.n_embd, h.n_vocab);
  output_norm_ = need("output_norm.weight", h.n_embd, 1);
  // Tied embeddings: llama.cpp uses token_embd as the output projection when there is none.
  output_ =
      find("output.weight") != nullptr ? need("output.weight", h.n_embd, h.n_vocab) : token_embd_;
  rope_freqs_ = find("rope_freqs.weight");
  if (rope_freqs_ != nullptr) rope_freqs_ = need("rope_freqs.weight", h.n_rot / 2, 1);
  for (uint32_t i = 0; i < h.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights l;
    l.attn_norm = need(p + "attn_norm.weight", h.n_embd, 1);
    l.attn_q = need(p + "attn_q.weight", h.n_embd, h.n_embd);
    l.attn_k = need(p + "attn_k.weight", h.n_embd, h.n_embd_kv());
    l.attn_v = need(p + "attn_v.weight", h.n_embd, h.n_embd_kv());
    l.attn_output = need(p + "attn_output.weight", h.n_embd, h.n_embd);
    l.ffn_norm = need(p + "ffn_norm.weight", h.n_embd, 1);
    l.ffn_gate = need(p + "ffn_gate.weight", h.n_embd, h.n_ff);
    l.ffn_up = need(p + "ffn_up.weight", h.n_embd, h.n_ff);
    l.ffn_down = need(p + "ffn_down.weight", h.n_ff, h.n_embd);
    layers_.push_back(l);
  }
}

BaseModel::~BaseModel() {
  if (buffer_ != nullptr) ggml_backend_buffer_free(buffer_);
  if (ctx_ != nullptr) ggml_free(ctx_);
}

ggml_tensor* BaseModel::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

uint64_t BaseModel::weight_bytes() const {
  return buffer_ == nullptr ? 0 : ggml_backend_buffer_get_size(buffer_);
}

}  // namespace a4ps::evolve
