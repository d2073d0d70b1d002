#include "llm/ggml_log.h"

#include <cstdlib>
#include <mutex>

#include "core/log.h"

namespace a4ps::llm {
namespace {

thread_local std::string t_last_error;
thread_local ggml_log_level t_last_level = GGML_LOG_LEVEL_NONE;
thread_local uint64_t* t_allocated_bytes = nullptr;

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
  if (t_allocated_bytes != nullptr) *t_allocated_bytes += parse_buffer_size_line(text);
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

namespace {
thread_local uint64_t t_recorded_bytes = 0;
}  // namespace

AllocationRecorder::AllocationRecorder() {
  install_ggml_log();
  t_recorded_bytes = 0;
  t_allocated_bytes = &t_recorded_bytes;
}

AllocationRecorder::~AllocationRecorder() {
  t_allocated_bytes = nullptr;
}

uint64_t AllocationRecorder::bytes() const {
  return t_recorded_bytes;
}

uint64_t parse_buffer_size_line(std::string_view line) {
  // "<where>: <device> <kind> buffer size = <number> MiB"; the destructor's "buffer size is"
  // lines repeat figures already counted and do not match.
  const size_t at = line.find("buffer size = ");
  if (at == std::string_view::npos) return 0;
  const std::string number(line.substr(at + 14));
  char* end = nullptr;
  const double mib = std::strtod(number.c_str(), &end);
  if (end == number.c_str() || std::string_view(end).find("MiB") == std::string_view::npos) {
    return 0;
  }
  return static_cast<uint64_t>(mib * 1024.0 * 1024.0);
}

}  // namespace a4ps::llm
