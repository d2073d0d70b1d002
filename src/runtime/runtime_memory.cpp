// The Runtime's episodic memory: the MemoryStore over the image's state.db and index/, with
// the embedder [memory] embedder chooses.
#include <fstream>
#include <optional>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/text.h"
#include "runtime/model_wiring.h"
#include "runtime/runtime.h"

namespace a4ps::runtime {
namespace {

using nlohmann::json;

// [memory]'s vector index keys as the memory module takes them.
memory::IndexConfig index_config(const MemoryConfig& memory) {
  memory::IndexConfig c;
  c.kind = memory.index;
  c.flat_max = memory.flat_max;
  c.hnsw_m = static_cast<int>(memory.hnsw_m);
  c.hnsw_ef_construction = static_cast<int>(memory.hnsw_ef_construction);
  c.hnsw_ef_search = static_cast<int>(memory.hnsw_ef_search);
  c.ivf_nlist = static_cast<int>(memory.ivf_nlist);
  c.ivf_nprobe = static_cast<int>(memory.ivf_nprobe);
  c.pq_m = static_cast<int>(memory.pq_m);
  return c;
}

}  // namespace

memory::Embedder Runtime::memory_embedder() {
  const auto it = config_.models.refs.find("embedding");
  const std::string& choice = config_.memory.embedder;
  std::optional<llm::ModelRef> ref;
  if (it != config_.models.refs.end()) ref = resolve_model(config_, "embedding");
  const bool local = ref && ref->source == llm::ModelSource::kLocalGguf;
  if (choice == "lexical" || !ref || (choice == "auto" && !local)) {
    log::warn(std::string("memory: the built-in lexical embedder (matches words, not meaning): ") +
              (choice == "lexical" ? "[memory] embedder = \"lexical\""
               : !ref              ? "no [models] embedding is configured"
                                   : "[memory] embedder = \"auto\" uses only a local GGUF "
                                     "embedding model; set embedder = \"model\" to embed with " +
                            it->second));
    return memory::lexical_embedder();
  }
  // nomic-embed-text was trained with task prefixes; other models take the text as it is.
  const bool nomic = to_lower(it->second).find("nomic") != std::string::npos;
  const auto embed = [this](std::string prefix) {
    return [this, prefix](const std::string& text) {
      llm::ModelManager& manager = models_ ? *models_ : embedding_models();
      return manager.embed("embedding", prefix + text);
    };
  };
  memory::Embedder embedder{"",
                            embed(nomic ? "search_document: " : ""),
                            embed(nomic ? "search_query: " : ""),
                            {"model:" + it->second}};
  // Stored vectors are keyed by what the model is, not where it lies, so a copied or restored
  // image keeps them; a served model is known by its reference only.
  embedder.name = local ? "model:sha256:" + model_content_id(ref->path, image_->dir() / "index")
                        : "model:" + it->second;
  return embedder;
}

memory::MemoryStore& Runtime::memory() {
  if (memory_) return *memory_;
  memory::MemoryStoreOptions options;
  options.index = index_config(config_.memory);
  options.index_dir = image_->dir() / "index";
  options.rebuild_progress = options_.on_index_progress;
  memory_ = memory::MemoryStore::open(image_->state_db_path(), memory_embedder(), options);
  return *memory_;
}

}  // namespace a4ps::runtime
