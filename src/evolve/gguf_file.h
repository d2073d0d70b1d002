// evolve/gguf_file: writing the trainer's GGUF files (adapters, checkpoints) durably: each
// tensor copied off its backend under its name, the file written beside the target, fsynced,
// renamed into place and the folder fsynced, so a kill leaves the old file or the new one.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

struct gguf_context;
struct ggml_tensor;

namespace a4ps::evolve {

using NamedTensors = std::vector<std::pair<const ggml_tensor*, std::string>>;

// Adds `tensors` to `meta` and writes it to `path`. Throws kInternal naming `what` ("the
// adapter") if it cannot be written or moved into place.
void write_gguf_durably(gguf_context* meta, const NamedTensors& tensors,
                        const std::filesystem::path& path, const std::string& what);

}  // namespace a4ps::evolve
