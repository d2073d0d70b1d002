#include "llm/ggml_log.h"

#include <mutex>

#include "core/log.h"

namespace a4ps::llm {
namespace {

thread_local std::string t_last_error;
thread_local ggml_log_level t_last_level = GGML_LOG_LEVEL_NONE;

std::string trim(std::string text) {
  const auto not_space = [](char c) { return c != ' ' && c != '\n' && c != '\t' && c != '\r'; };
  while (!text.empty() && !not_space(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && !not_space(text[start])) ++start;
  return text.substr(start);
}

}  // namespace

void forward_ggml_log(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (text == nullptr) return;
  // CONT continues the previous message at its level.
  const ggml_log_level effective = level == GGML_LOG_LEVEL_CONT ? t_last_level : level;
  t_last_level = effective;
  if (effective == GGML_LOG_LEVEL_ERROR) {
    // Every error line since the capture began, joined: llama.cpp's first line usually says
    // why ("unknown model architecture"), its last only that loading failed.
    if (level != GGML_LOG_LEVEL_CONT && !t_last_error.empty())
      t_last_error = trim(t_last_error) + "; ";
    t_last_error += text;
  }
  if (log::enabled(log::Level::kDebug)) log::debug(std::string("llama.cpp: ") + text);
}

void install_ggml_log() {
  static std::once_flag once;
  std::call_once(once, [] { ggml_log_set(forward_ggml_log, nullptr); });
}

GgmlLogCapture::GgmlLogCapture() {
  install_ggml_log();
  t_last_error.clear();
}

std::string GgmlLogCapture::last_error_or(const std::string& fallback) const {
  std::string text = trim(t_last_error);
  return text.empty() ? fallback : text;
}

}  // namespace a4ps::llm
