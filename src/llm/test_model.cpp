#include "llm/test_model.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <system_error>

#include "core/error.h"
#include "core/hash.h"
#include "llm/ggml_log.h"

#ifndef A4PS_LLAMA_MODELS_DIR
#error "A4PS_LLAMA_MODELS_DIR must name llama.cpp's models/ folder"
#endif

namespace a4ps::llm {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

ggml_type to_ggml_type(WeightType type) {
  switch (type) {
    case WeightType::kF32:
      return GGML_TYPE_F32;
    case WeightType::kF16:
      return GGML_TYPE_F16;
    case WeightType::kQ8_0:
      return GGML_TYPE_Q8_0;
  }
  return GGML_TYPE_F32;
}

// llama.cpp's general.file_type values (enum llama_ftype).
uint32_t file_type_of(WeightType type) {
  switch (type) {
    case WeightType::kF32:
      return 0;
    case WeightType::kF16:
      return 1;
    case WeightType::kQ8_0:
      return 7;
  }
  return 0;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform floats in [-scale, scale] from a stream seeded by the model seed and tensor name, so
// each tensor's values depend on nothing else (std::uniform_real_distribution is not specified
// bit-exactly; this is).
class TensorRandom {
 public:
  TensorRandom(uint64_t seed, std::string_view name) : engine_(splitmix64(seed ^ fnv1a(name))) {}
  float next(float scale) {
    const double unit = static_cast<double>(engine_() >> 11) * 0x1.0p-53;  // [0, 1)
    return static_cast<float>((unit * 2.0 - 1.0) * static_cast<double>(scale));
  }

 private:
  std::mt19937_64 engine_;
};

struct TensorShape {
  std::string name;
  int64_t ne0 = 0;  // row length (input features)
  int64_t ne1 = 1;  // rows
  bool is_norm = false;
};

std::vector<TensorShape> tensor_shapes(const TestModelSpec& s, int64_t n_vocab) {
  const int64_t n_embd = s.n_embd;
  const int64_t n_embd_kv = int64_t{s.n_embd / s.n_head} * s.n_head_kv;
  std::vector<TensorShape> shapes = {
      {"token_embd.weight", n_embd, n_vocab, false},
      {"output_norm.weight", n_embd, 1, true},
      {"output.weight", n_embd, n_vocab, false},
  };
  for (uint32_t i = 0; i < s.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    shapes.push_back({p + "attn_norm.weight", n_embd, 1, true});
    shapes.push_back({p + "attn_q.weight", n_embd, n_embd, false});
    shapes.push_back({p + "attn_k.weight", n_embd, n_embd_kv, false});
    shapes.push_back({p + "attn_v.weight", n_embd, n_embd_kv, false});
    shapes.push_back({p + "attn_output.weight", n_embd, n_embd, false});
    shapes.push_back({p + "ffn_norm.weight", n_embd, 1, true});
    shapes.push_back({p + "ffn_gate.weight", n_embd, s.n_ff, false});
    shapes.push_back({p + "ffn_up.weight", n_embd, s.n_ff, false});
    shapes.push_back({p + "ffn_down.weight", s.n_ff, n_embd, false});
  }
  return shapes;
}

void validate_spec(const TestModelSpec& s) {
  const auto fail = [](const std::string& what) { throw_invalid_argument("test model: " + what); };
  if (s.n_layer < 1 || s.n_layer > 256)
    fail("--layers " + std::to_string(s.n_layer) + ": must be 1..256");
  if (s.n_embd < 8 || s.n_embd > 16384)
    fail("--embd " + std::to_string(s.n_embd) + ": must be 8..16384");
  if (s.n_head < 1 || s.n_embd % s.n_head != 0) {
    fail("--heads " + std::to_string(s.n_head) + ": must divide --embd " +
         std::to_string(s.n_embd));
  }
  if ((s.n_embd / s.n_head) % 2 != 0) fail("--embd / --heads must be even (rotary embeddings)");
  if (s.n_head_kv < 1 || s.n_head % s.n_head_kv != 0) {
    fail("--kv-heads " + std::to_string(s.n_head_kv) + ": must divide --heads " +
         std::to_string(s.n_head));
  }
  if (s.n_ff < 1 || s.n_ff > 65536) fail("--ff " + std::to_string(s.n_ff) + ": must be 1..65536");
  if (s.n_ctx < 64 || s.n_ctx > (1u << 20))
    fail("--ctx " + std::to_string(s.n_ctx) + ": must be 64..1048576");
  if (s.type == WeightType::kQ8_0 && (s.n_embd % 32 != 0 || s.n_ff % 32 != 0)) {
    fail("q8_0 needs --embd and --ff to be multiples of 32");
  }
}

std::filesystem::path resolve_vocab(const std::string& vocab) {
  const bool is_path = vocab.find('/') != std::string::npos || vocab.ends_with(".gguf");
  const std::filesystem::path dir = default_vocab_dir();
  const std::filesystem::path path =
      is_path ? std::filesystem::path(vocab) : dir / ("ggml-vocab-" + vocab + ".gguf");
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return path;
  std::string known;
  for (const std::string& name : available_vocabs(dir)) known += (known.empty() ? "" : ", ") + name;
  throw_not_found("vocab " + vocab + ": " + path.string() + " does not exist (vocabs in " +
                  dir.string() + ": " + (known.empty() ? "none" : known) + ")");
}

// Copies the tokenizer (tokens, scores, types, special ids, chat template) and nothing else.
std::unique_ptr<gguf_context, GgufDeleter> metadata_from_vocab(const std::filesystem::path& path,
                                                               int64_t& n_vocab) {
  GgmlLogCapture capture;
  std::unique_ptr<gguf_context, GgufDeleter> vocab(
      gguf_init_from_file(path.string().c_str(), {/*no_alloc=*/true, /*ctx=*/nullptr}));
  if (!vocab) {
    throw_invalid_argument(path.string() + ": not a readable GGUF vocab (" +
                           capture.last_error_or("unknown error") + ")");
  }
  const int64_t tokens = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
  if (tokens < 0 || gguf_get_kv_type(vocab.get(), tokens) != GGUF_TYPE_ARRAY) {
    throw_invalid_argument(path.string() + ": has no tokenizer.ggml.tokens; not a vocab file");
  }
  n_vocab = static_cast<int64_t>(gguf_get_arr_n(vocab.get(), tokens));

  std::unique_ptr<gguf_context, GgufDeleter> out(gguf_init_empty());
  gguf_set_kv(out.get(), vocab.get());
  std::vector<std::string> foreign;
  for (int64_t i = 0; i < gguf_get_n_kv(out.get()); ++i) {
    const std::string key = gguf_get_key(out.get(), i);
    if (!key.starts_with("tokenizer.")) foreign.push_back(key);
  }
  for (const std::string& key : foreign) gguf_remove_key(out.get(), key.c_str());
  return out;
}

void set_model_metadata(gguf_context* ctx, const TestModelSpec& s, int64_t n_vocab) {
  gguf_set_val_str(ctx, "general.architecture", "llama");
  gguf_set_val_str(ctx, "general.name", ("a4ps-test-" + std::to_string(s.seed)).c_str());
  gguf_set_val_u32(ctx, "general.file_type", file_type_of(s.type));
  gguf_set_val_u32(ctx, "general.quantization_version", 2);
  gguf_set_val_u64(ctx, "a4ps.test_model.seed", s.seed);
  gguf_set_val_u32(ctx, "llama.context_length", s.n_ctx);
  gguf_set_val_u32(ctx, "llama.embedding_length", s.n_embd);
  gguf_set_val_u32(ctx, "llama.block_count", s.n_layer);
  gguf_set_val_u32(ctx, "llama.feed_forward_length", s.n_ff);
  gguf_set_val_u32(ctx, "llama.attention.head_count", s.n_head);
  gguf_set_val_u32(ctx, "llama.attention.head_count_kv", s.n_head_kv);
  gguf_set_val_f32(ctx, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gguf_set_val_u32(ctx, "llama.rope.dimension_count", s.n_embd / s.n_head);
  gguf_set_val_f32(ctx, "llama.rope.freq_base", 10000.0f);
  gguf_set_val_u32(ctx, "llama.vocab_size", static_cast<uint32_t>(n_vocab));
  if (s.purpose == ModelPurpose::kEmbed) {
    gguf_set_val_u32(ctx, "llama.pooling_type", 1);  // LLAMA_POOLING_TYPE_MEAN
  }
}

// Fills `tensor` row by row: norms are 1, weights uniform with variance 1 / fan_in.
void fill_tensor(ggml_tensor* tensor, const TensorShape& shape, uint64_t seed, ggml_type type) {
  TensorRandom random(seed, shape.name);
  const float scale = shape.is_norm ? 0.0f : std::sqrt(3.0f / static_cast<float>(shape.ne0));
  std::vector<float> row(static_cast<size_t>(shape.ne0));
  const size_t row_bytes = ggml_row_size(type, shape.ne0);
  auto* dst = static_cast<uint8_t*>(tensor->data);
  for (int64_t r = 0; r < shape.ne1; ++r) {
    for (float& v : row) v = shape.is_norm ? 1.0f : random.next(scale);
    uint8_t* out = dst + static_cast<size_t>(r) * row_bytes;
    if (type == GGML_TYPE_F32) {
      std::copy(row.begin(), row.end(), reinterpret_cast<float*>(out));
    } else if (type == GGML_TYPE_F16) {
      ggml_fp32_to_fp16_row(row.data(), reinterpret_cast<ggml_fp16_t*>(out), shape.ne0);
    } else {
      ggml_quantize_chunk(type, row.data(), out, 0, 1, shape.ne0, nullptr);
    }
  }
}

// Writes through a temporary file renamed into place, so a reader never sees half a file.
void write_atomically(const gguf_context* meta, const std::filesystem::path& out) {
  std::error_code ec;
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path(), ec);
  const std::filesystem::path tmp = out.string() + ".tmp";
  if (!gguf_write_to_file(meta, tmp.string().c_str(), /*only_meta=*/false)) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::kInternal, out.string() + ": cannot write the file");
  }
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::kInternal, out.string() + ": cannot move the file into place");
  }
}

}  // namespace

WeightType parse_weight_type(const std::string& name) {
  if (name == "f32") return WeightType::kF32;
  if (name == "f16") return WeightType::kF16;
  if (name == "q8_0") return WeightType::kQ8_0;
  throw_invalid_argument("--type " + name + ": must be one of f32, f16, q8_0");
}

std::filesystem::path default_vocab_dir() {
  if (const char* dir = std::getenv("A4PS_VOCAB_DIR"); dir != nullptr && *dir != '\0') return dir;
  return A4PS_LLAMA_MODELS_DIR;
}

std::vector<std::string> available_vocabs(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with("ggml-vocab-") && file.ends_with(".gguf")) {
      names.push_back(file.substr(11, file.size() - 11 - 5));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t test_model_parameter_count(const TestModelSpec& spec, uint32_t vocab_size) {
  uint64_t total = 0;
  for (const TensorShape& s : tensor_shapes(spec, vocab_size)) {
    total += static_cast<uint64_t>(s.ne0 * s.ne1);
  }
  return total;
}

void write_test_model(const TestModelSpec& spec, const std::filesystem::path& out) {
  validate_spec(spec);
  int64_t n_vocab = 0;
  auto meta = metadata_from_vocab(resolve_vocab(spec.vocab), n_vocab);
  set_model_metadata(meta.get(), spec, n_vocab);

  const std::vector<TensorShape> shapes = tensor_shapes(spec, n_vocab);
  size_t data_bytes = 0;
  for (const TensorShape& s : shapes) {
    const ggml_type type = s.is_norm ? GGML_TYPE_F32 : to_ggml_type(spec.type);
    data_bytes += ggml_row_size(type, s.ne0) * static_cast<size_t>(s.ne1) + GGML_MEM_ALIGN;
  }
  const ggml_init_params params = {data_bytes + shapes.size() * ggml_tensor_overhead(), nullptr,
                                   /*no_alloc=*/false};
  std::unique_ptr<ggml_context, GgmlDeleter> tensors(ggml_init(params));
  if (!tensors) throw Error(ErrorCode::kResourceExhausted, "test model: cannot allocate tensors");

  for (const TensorShape& s : shapes) {
    // Norm weights stay f32, as llama.cpp's own converters keep them.
    const ggml_type type = s.is_norm ? GGML_TYPE_F32 : to_ggml_type(spec.type);
    ggml_tensor* t = s.ne1 == 1 ? ggml_new_tensor_1d(tensors.get(), type, s.ne0)
                                : ggml_new_tensor_2d(tensors.get(), type, s.ne0, s.ne1);
    ggml_set_name(t, s.name.c_str());
    fill_tensor(t, s, spec.seed, type);
    gguf_add_tensor(meta.get(), t);
  }

  write_atomically(meta.get(), out);
}

void write_test_lora(const TestModelSpec& base, uint64_t seed, uint32_t rank,
                     const std::filesystem::path& out) {
  validate_spec(base);
  if (rank < 1 || rank > base.n_embd) {
    throw_invalid_argument("--lora " + std::to_string(rank) + ": the rank must be 1.." +
                           std::to_string(base.n_embd));
  }
  std::unique_ptr<gguf_context, GgufDeleter> meta(gguf_init_empty());
  gguf_set_val_str(meta.get(), "general.architecture", "llama");
  gguf_set_val_str(meta.get(), "general.type", "adapter");
  gguf_set_val_str(meta.get(), "general.name", ("a4ps-test-lora-" + std::to_string(seed)).c_str());
  gguf_set_val_str(meta.get(), "adapter.type", "lora");
  gguf_set_val_f32(meta.get(), "adapter.lora.alpha", static_cast<float>(rank));

  // lora_a maps the input (ne0 = n_in) to the rank; lora_b maps the rank to the output.
  const int64_t n_embd_kv = int64_t{base.n_embd / base.n_head} * base.n_head_kv;
  std::vector<TensorShape> shapes;
  for (uint32_t i = 0; i < base.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    for (const auto& [name, n_out] : {std::pair<std::string, int64_t>{"attn_q", base.n_embd},
                                      std::pair<std::string, int64_t>{"attn_v", n_embd_kv}}) {
      shapes.push_back({p + name + ".weight.lora_a", base.n_embd, rank, false});
      shapes.push_back({p + name + ".weight.lora_b", rank, n_out, false});
    }
  }
  size_t bytes = 0;
  for (const TensorShape& t : shapes) {
    bytes += ggml_row_size(GGML_TYPE_F32, t.ne0) * static_cast<size_t>(t.ne1) + GGML_MEM_ALIGN;
  }
  std::unique_ptr<ggml_context, GgmlDeleter> tensors(
      ggml_init({bytes + shapes.size() * ggml_tensor_overhead(), nullptr, false}));
  for (const TensorShape& t : shapes) {
    ggml_tensor* tensor = ggml_new_tensor_2d(tensors.get(), GGML_TYPE_F32, t.ne0, t.ne1);
    ggml_set_name(tensor, t.name.c_str());
    fill_tensor(tensor, t, seed, GGML_TYPE_F32);
    gguf_add_tensor(meta.get(), tensor);
  }
  write_atomically(meta.get(), out);
}

}  // namespace a4ps::llm
