#include "llm/gguf_info.h"

#include <gguf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include "core/error.h"
#include "llm/ggml_log.h"

namespace a4ps::llm {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

// Reads an unsigned integer of any GGUF integer type; 0 when absent or not an integer.
// gguf_get_val_* assert on a type mismatch, so the type is checked first.
uint64_t get_uint(const gguf_context* ctx, const std::string& key) {
  const int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0) return 0;
  switch (gguf_get_kv_type(ctx, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(ctx, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(ctx, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(ctx, id);
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(ctx, id);
    case GGUF_TYPE_INT8:
      return static_cast<uint64_t>(std::max<int8_t>(0, gguf_get_val_i8(ctx, id)));
    case GGUF_TYPE_INT16:
      return static_cast<uint64_t>(std::max<int16_t>(0, gguf_get_val_i16(ctx, id)));
    case GGUF_TYPE_INT32:
      return static_cast<uint64_t>(std::max<int32_t>(0, gguf_get_val_i32(ctx, id)));
    case GGUF_TYPE_INT64:
      return static_cast<uint64_t>(std::max<int64_t>(0, gguf_get_val_i64(ctx, id)));
    default:
      return 0;
  }
}

uint32_t get_u32(const gguf_context* ctx, const std::string& key) {
  return static_cast<uint32_t>(std::min<uint64_t>(get_uint(ctx, key), UINT32_MAX));
}

std::string get_string(const gguf_context* ctx, const std::string& key) {
  const int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return {};
  return gguf_get_val_str(ctx, id);
}

bool has_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 4> magic{};
  in.read(magic.data(), magic.size());
  return in.gcount() == 4 && std::string_view(magic.data(), 4) == "GGUF";
}

// llama.cpp's names for general.file_type (enum llama_ftype); the common ones.
std::string file_type_name(uint64_t file_type) {
  switch (file_type) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 10:
      return "Q2_K";
    case 12:
      return "Q3_K_M";
    case 14:
      return "Q4_K_S";
    case 15:
      return "Q4_K_M";
    case 16:
      return "Q5_K_S";
    case 17:
      return "Q5_K_M";
    case 18:
      return "Q6_K";
    case 32:
      return "BF16";
    default:
      return "type " + std::to_string(file_type);
  }
}

void read_hparams(const gguf_context* ctx, GgufInfo& info) {
  const std::string& a = info.architecture;
  info.name = get_string(ctx, "general.name");
  if (gguf_find_key(ctx, "general.file_type") >= 0) {
    info.file_type = file_type_name(get_uint(ctx, "general.file_type"));
  }
  info.context_length = get_u32(ctx, a + ".context_length");
  info.n_embd = get_u32(ctx, a + ".embedding_length");
  info.n_layer = get_u32(ctx, a + ".block_count");
  info.n_head = get_u32(ctx, a + ".attention.head_count");
  info.n_head_kv = get_u32(ctx, a + ".attention.head_count_kv");
  if (info.n_head_kv == 0) info.n_head_kv = info.n_head;
  info.n_ff = get_u32(ctx, a + ".feed_forward_length");
  info.head_dim = get_u32(ctx, a + ".attention.key_length");
  if (info.head_dim == 0 && info.n_head > 0) info.head_dim = info.n_embd / info.n_head;
  info.pooling_type = get_u32(ctx, a + ".pooling_type");
  info.tokenizer_model = get_string(ctx, "tokenizer.ggml.model");
  info.chat_template = get_string(ctx, "tokenizer.chat_template");
  const int64_t tokens = gguf_find_key(ctx, "tokenizer.ggml.tokens");
  if (tokens >= 0 && gguf_get_kv_type(ctx, tokens) == GGUF_TYPE_ARRAY) {
    info.vocab_size = static_cast<uint32_t>(gguf_get_arr_n(ctx, tokens));
  }
}

}  // namespace

uint64_t GgufInfo::kv_cache_bytes(uint32_t n_ctx) const {
  constexpr uint64_t kBytesPerF16 = 2;
  return uint64_t{n_layer} * n_ctx * n_head_kv * head_dim * 2 * kBytesPerF16;
}

uint64_t GgufInfo::estimate_memory_bytes(uint32_t n_ctx) const {
  // Compute buffers: activations for a prompt batch plus the logits row; llama.cpp's own
  // figure depends on the graph, so this is an allowance, checked against the real figure by
  // the ModelManager once a model is loaded.
  constexpr uint64_t kBaseAllowance = 16ull << 20;
  const uint64_t logits = uint64_t{vocab_size} * sizeof(float) * 512;
  const uint64_t activations = uint64_t{std::max(n_embd, n_ff)} * sizeof(float) * 512 * 4;
  return tensor_bytes + kv_cache_bytes(n_ctx) + kBaseAllowance + logits + activations;
}

namespace {

// Opens a GGUF header after checking the file exists, starts with "GGUF" and is as long as
// its tensor table says. Fills `tensors` with each tensor's name and first two dimensions.
GgufPtr open_checked(const std::filesystem::path& path, const std::string& what,
                     uint64_t& file_bytes, std::map<std::string, GgufTensorShape>& tensors) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw_not_found(path.string() + ": no such " + what + " file");
  }
  file_bytes = std::filesystem::file_size(path, ec);
  if (!has_gguf_magic(path)) {
    throw_invalid_argument(path.string() + ": not a GGUF " + what +
                           " file (it does not start with the bytes \"GGUF\")");
  }
  GgmlLogCapture capture;
  GgufPtr ctx(gguf_init_from_file(path.string().c_str(), {/*no_alloc=*/true, /*ctx=*/nullptr}));
  if (!ctx) {
    throw Error(ErrorCode::kDataLoss, path.string() + ": the GGUF header cannot be read (" +
                                          capture.last_error_or("truncated or corrupt") + ")");
  }
  uint64_t data_end = 0;
  const int64_t n = gguf_get_n_tensors(ctx.get());
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t size = gguf_get_tensor_size(ctx.get(), i);
    data_end = std::max<uint64_t>(data_end, gguf_get_tensor_offset(ctx.get(), i) + size);
    const int64_t* ne = gguf_get_tensor_ne(ctx.get(), i);
    GgufTensorShape shape{{ne[0], ne[1], ne[2], ne[3]}, size};
    tensors[gguf_get_tensor_name(ctx.get(), i)] = shape;
  }
  const uint64_t needed = gguf_get_data_offset(ctx.get()) + data_end;
  if (n > 0 && needed > file_bytes) {
    throw Error(ErrorCode::kDataLoss, path.string() + ": truncated GGUF file: its tensors need " +
                                          std::to_string(needed) + " bytes but the file has " +
                                          std::to_string(file_bytes));
  }
  return ctx;
}

}  // namespace

GgufInfo inspect_gguf(const std::filesystem::path& path) {
  GgufInfo info;
  info.path = path;
  GgufPtr ctx = open_checked(path, "model", info.file_bytes, info.tensors);
  info.architecture = get_string(ctx.get(), "general.architecture");
  if (info.architecture.empty()) {
    throw_invalid_argument(path.string() +
                           ": GGUF file has no general.architecture; it is not a model");
  }
  read_hparams(ctx.get(), info);
  info.n_tensors = static_cast<int64_t>(info.tensors.size());
  for (const auto& [name, shape] : info.tensors) {
    info.tensor_bytes += shape.bytes;
    uint64_t elements = 1;
    for (const int64_t d : shape.ne) elements *= static_cast<uint64_t>(d);
    info.n_params += elements;
  }
  return info;
}

void check_lora_matches(const std::filesystem::path& adapter, const GgufInfo& base) {
  uint64_t file_bytes = 0;
  std::map<std::string, GgufTensorShape> tensors;
  GgufPtr ctx = open_checked(adapter, "LoRA adapter", file_bytes, tensors);
  const std::string where = adapter.string() + ": ";
  const auto require_string = [&](const char* key, const std::string& expected) {
    const std::string value = get_string(ctx.get(), key);
    if (value != expected) {
      throw_invalid_argument(where + key + " is \"" + value + "\", expected \"" + expected + "\"" +
                             (std::string(key) == "general.architecture"
                                  ? " (the base model " + base.path.string() + "'s)"
                                  : ""));
    }
  };
  require_string("general.type", "adapter");
  require_string("adapter.type", "lora");
  require_string("general.architecture", base.architecture);
  // llama.cpp reads the alpha without checking its type (an assert, not an error).
  const int64_t alpha = gguf_find_key(ctx.get(), "adapter.lora.alpha");
  if (alpha >= 0 && gguf_get_kv_type(ctx.get(), alpha) != GGUF_TYPE_FLOAT32) {
    throw_invalid_argument(where + "adapter.lora.alpha must be a 32-bit float");
  }
  for (const auto& [name, a] : tensors) {
    if (!name.ends_with(".lora_a")) continue;
    const std::string target = name.substr(0, name.size() - 7);
    const auto b = tensors.find(target + ".lora_b");
    const auto t = base.tensors.find(target);
    if (b == tensors.end()) throw_invalid_argument(where + name + " has no matching .lora_b");
    if (t == base.tensors.end()) {
      throw_invalid_argument(where + "adapts " + target + ", which the base model " +
                             base.path.string() + " does not have");
    }
    const bool embd = target == "token_embd.weight";
    const bool fits = embd ? t->second.ne[0] == b->second.ne[1] && t->second.ne[1] == a.ne[1]
                           : t->second.ne[0] == a.ne[0] && t->second.ne[1] == b->second.ne[1] &&
                                 a.ne[1] == b->second.ne[0];
    if (!fits) {
      throw_invalid_argument(where + target + ": the adapter's shape does not match the base " +
                             "model " + base.path.string() + " (made for another model?)");
    }
  }
}

}  // namespace a4ps::llm
