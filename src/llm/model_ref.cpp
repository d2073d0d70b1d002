#include "llm/model_ref.h"

#include "core/error.h"

namespace a4ps::llm {
namespace {

bool is_http_url(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  return !rest.empty() && rest.front() != '/' && rest.front() != ':';
}

}  // namespace

std::string_view model_source_name(ModelSource source) {
  switch (source) {
    case ModelSource::kLocalGguf:
      return "gguf";
    case ModelSource::kOllama:
      return "ollama";
    case ModelSource::kOpenAI:
      return "openai";
  }
  return "gguf";
}

ModelRef ModelRef::parse(std::string_view text, const std::filesystem::path& base_dir) {
  ModelRef ref;
  ref.text = std::string(text);
  const auto bad = [&](const std::string& why) {
    throw_invalid_argument("model reference \"" + ref.text + "\": " + why +
                           " (expected gguf:PATH, a path, ollama:NAME or openai:NAME@URL)");
  };
  if (text.empty()) bad("is empty");
  if (text.starts_with("ollama:")) {
    ref.source = ModelSource::kOllama;
    ref.name = std::string(text.substr(7));
    if (ref.name.empty()) bad("names no Ollama model");
    return ref;
  }
  if (text.starts_with("openai:")) {
    ref.source = ModelSource::kOpenAI;
    const std::string_view rest = text.substr(7);
    const size_t at = rest.find('@');
    if (at == std::string_view::npos) bad("needs @URL after the model name");
    ref.name = std::string(rest.substr(0, at));
    ref.base_url = std::string(rest.substr(at + 1));
    if (ref.name.empty()) bad("names no model before @");
    if (!is_http_url(ref.base_url)) bad("\"" + ref.base_url + "\" is not an http(s)://host URL");
    while (ref.base_url.ends_with('/')) ref.base_url.pop_back();
    return ref;
  }
  const bool explicit_file = text.starts_with("gguf:");
  std::filesystem::path path(std::string(explicit_file ? text.substr(5) : text));
  if (path.empty()) bad("names no file");
  if (path.is_relative()) path = base_dir / path;
  std::error_code ec;
  // "phi3:mini-4k-instruct", "nomic-embed-text": no folder, no .gguf suffix.
  const bool looks_like_ollama_name =
      text.find('/') == std::string_view::npos && !text.ends_with(".gguf");
  if (!explicit_file && looks_like_ollama_name && !std::filesystem::exists(path, ec)) {
    ref.source = ModelSource::kOllama;
    ref.name = std::string(text);
    return ref;
  }
  ref.source = ModelSource::kLocalGguf;
  ref.path = path;
  return ref;
}

}  // namespace a4ps::llm
