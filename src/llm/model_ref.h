// llm/model_ref: a model reference as written in config.toml [models] or the codex:
//   gguf:/path/model.gguf | /path/model.gguf | relative/model.gguf   (a local file)
//   ollama:NAME                  (Ollama's native API)
//   openai:NAME@http://host:port (an OpenAI-compatible server)
// The blueprint's bare Ollama names ("phi3:mini-4k-instruct", "nomic-embed-text": no folder,
// no .gguf suffix) mean ollama:NAME when no local file of that name exists.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace a4ps::llm {

enum class ModelSource { kLocalGguf, kOllama, kOpenAI };

std::string_view model_source_name(ModelSource source);

struct ModelRef {
  ModelSource source = ModelSource::kLocalGguf;
  std::filesystem::path path;  // kLocalGguf
  std::string name;            // kOllama, kOpenAI: the server's model name
  std::string base_url;        // kOpenAI: e.g. http://127.0.0.1:8080
  std::string text;            // as written

  // Parses `text`; relative paths are taken relative to `base_dir`. Throws a4ps::Error
  // kInvalidArgument for a malformed reference (empty, "openai:" without "@URL", a URL that
  // is not http(s)://host[:port]).
  static ModelRef parse(std::string_view text, const std::filesystem::path& base_dir);
};

}  // namespace a4ps::llm
