#include "evolve/train_checkpoint.h"

#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>

#include <memory>
#include <system_error>

#include "core/error.h"
#include "evolve/gguf_file.h"
#include "llm/ggml_log.h"

namespace a4ps::evolve {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

// The tensors a checkpoint holds, each with the name it is stored under.
std::vector<std::pair<ggml_tensor*, std::string>> checkpoint_tensors(const LoraWeights& lora,
                                                                     const AdamMoments& moments) {
  std::vector<std::pair<ggml_tensor*, std::string>> out;
  const auto& params = lora.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = ggml_get_name(params[i]);
    out.emplace_back(params[i], name);
    out.emplace_back(moments.m[i], name + ".adam_m");
    out.emplace_back(moments.v[i], name + ".adam_v");
  }
  return out;
}

}  // namespace

void write_train_checkpoint(const std::filesystem::path& path, const std::string& fingerprint,
                            const LoraWeights& lora, const AdamMoments& moments,
                            const TrainState& state) {
  std::unique_ptr<gguf_context, GgufDeleter> meta(gguf_init_empty());
  gguf_set_val_u32(meta.get(), "a4ps.checkpoint.version", kTrainCheckpointVersion);
  gguf_set_val_str(meta.get(), "a4ps.checkpoint.fingerprint", fingerprint.c_str());
  gguf_set_val_u64(meta.get(), "a4ps.checkpoint.step", state.step);
  gguf_set_arr_data(meta.get(), "a4ps.checkpoint.losses", GGUF_TYPE_FLOAT32,
                    state.step_losses.data(), state.step_losses.size());
  gguf_set_arr_data(meta.get(), "a4ps.checkpoint.epoch_evaluations", GGUF_TYPE_FLOAT64,
                    state.epoch_evaluations.data(), state.epoch_evaluations.size());
  NamedTensors tensors;
  for (const auto& [t, name] : checkpoint_tensors(lora, moments)) tensors.emplace_back(t, name);
  write_gguf_durably(meta.get(), tensors, path, "the training checkpoint");
}

bool read_train_checkpoint(const std::filesystem::path& path, const std::string& fingerprint,
                           LoraWeights& lora, AdamMoments& moments, TrainState& state) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  const std::string where = "training checkpoint " + path.string();
  const std::string start_over = "; delete it to start the training over";
  ggml_context* data_ctx = nullptr;
  llm::GgmlLogCapture capture;
  std::unique_ptr<gguf_context, GgufDeleter> meta(
      gguf_init_from_file(path.string().c_str(), {/*no_alloc=*/false, &data_ctx}));
  if (!meta) {
    throw Error(
        ErrorCode::kDataLoss,
        where + ": unreadable (" + capture.last_error_or("not a GGUF file") + ")" + start_over);
  }
  std::unique_ptr<ggml_context, GgmlDeleter> data(data_ctx);
  const int64_t version = gguf_find_key(meta.get(), "a4ps.checkpoint.version");
  const int64_t print = gguf_find_key(meta.get(), "a4ps.checkpoint.fingerprint");
  const int64_t step = gguf_find_key(meta.get(), "a4ps.checkpoint.step");
  const int64_t losses = gguf_find_key(meta.get(), "a4ps.checkpoint.losses");
  // gguf's getters assert on a value of another type: check every type first.
  const auto has_type = [&](int64_t id, gguf_type type) {
    return id >= 0 && gguf_get_kv_type(meta.get(), id) == type;
  };
  if (!has_type(version, GGUF_TYPE_UINT32) || !has_type(print, GGUF_TYPE_STRING) ||
      !has_type(step, GGUF_TYPE_UINT64) || !has_type(losses, GGUF_TYPE_ARRAY) ||
      gguf_get_arr_type(meta.get(), losses) != GGUF_TYPE_FLOAT32 ||
      gguf_get_val_u32(meta.get(), version) != kTrainCheckpointVersion) {
    throw Error(ErrorCode::kDataLoss, where + ": not an A4PS training checkpoint of version " +
                                          std::to_string(kTrainCheckpointVersion) + start_over);
  }
  if (gguf_get_val_str(meta.get(), print) != fingerprint) {
    throw Error(ErrorCode::kFailedPrecondition,
                where +
                    ": belongs to another training run (a different base model, dataset or "
                    "options)" +
                    start_over + ", or pass another checkpoint path");
  }
  for (const auto& [t, name] : checkpoint_tensors(lora, moments)) {
    const ggml_tensor* stored = ggml_get_tensor(data.get(), name.c_str());
    if (stored == nullptr || stored->type != GGML_TYPE_F32 || !ggml_are_same_shape(stored, t)) {
      throw Error(ErrorCode::kDataLoss,
                  where + ": " + name + " is missing or of another shape" + start_over);
    }
    ggml_backend_tensor_set(t, stored->data, 0, ggml_nbytes(t));
  }
  state.step = gguf_get_val_u64(meta.get(), step);
  const size_t n_losses = gguf_get_arr_n(meta.get(), losses);
  state.step_losses.clear();
  if (n_losses > 0) {
    const auto* loss_data = static_cast<const float*>(gguf_get_arr_data(meta.get(), losses));
    state.step_losses.assign(loss_data, loss_data + n_losses);
  }
  state.epoch_evaluations.clear();
  const int64_t evaluations = gguf_find_key(meta.get(), "a4ps.checkpoint.epoch_evaluations");
  if (has_type(evaluations, GGUF_TYPE_ARRAY) &&
      gguf_get_arr_type(meta.get(), evaluations) == GGUF_TYPE_FLOAT64 &&
      gguf_get_arr_n(meta.get(), evaluations) > 0) {
    const auto* e = static_cast<const double*>(gguf_get_arr_data(meta.get(), evaluations));
    state.epoch_evaluations.assign(e, e + gguf_get_arr_n(meta.get(), evaluations));
  }
  if (state.step_losses.size() != state.step) {
    throw Error(ErrorCode::kDataLoss,
                where + ": its loss history does not match its step" + start_over);
  }
  return true;
}

}  // namespace a4ps::evolve
