#include "evolve/gguf_file.h"

#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>

#include <memory>
#include <system_error>

#include "core/error.h"
#include "core/files.h"

namespace a4ps::evolve {
namespace {

struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

}  // namespace

void write_gguf_durably(gguf_context* meta, const NamedTensors& tensors,
                        const std::filesystem::path& path, const std::string& what) {
  // gguf writes tensor data from host memory: copy each tensor off its backend first.
  size_t bytes = 0;
  for (const auto& [t, name] : tensors) bytes += ggml_nbytes(t) + GGML_MEM_ALIGN;
  std::unique_ptr<ggml_context, GgmlDeleter> host(
      ggml_init({bytes + tensors.size() * ggml_tensor_overhead(), nullptr, false}));
  for (const auto& [t, name] : tensors) {
    ggml_tensor* copy = ggml_dup_tensor(host.get(), t);
    ggml_set_name(copy, name.c_str());
    ggml_backend_tensor_get(t, copy->data, 0, ggml_nbytes(t));
    gguf_add_tensor(meta, copy);
  }
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (!gguf_write_to_file(meta, tmp.string().c_str(), /*only_meta=*/false)) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::kInternal, path.string() + ": cannot write " + what);
  }
  fsync_path(tmp);
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::kInternal,
                path.string() + ": cannot move " + what + " into place: " + ec.message());
  }
  fsync_path(path.parent_path().empty() ? "." : path.parent_path());
}

}  // namespace a4ps::evolve
