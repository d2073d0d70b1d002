// llm/ggml_log: routes ggml's and llama.cpp's log output into a4ps's log (at debug level,
// since A4PS reports failures in its own words) and keeps the last error line per thread, so
// an a4ps::Error can quote what llama.cpp said.
#pragma once

#include <ggml.h>

#include <string>

namespace a4ps::llm {

// The callback given to ggml_log_set / llama_log_set.
void forward_ggml_log(ggml_log_level level, const char* text, void* user_data);

// Installs forward_ggml_log for ggml. Idempotent and thread-safe.
void install_ggml_log();

// Clears the calling thread's llama.cpp/ggml errors on construction; last_error_or() returns
// every line logged at error level since then, joined with "; ", or `fallback`.
class GgmlLogCapture {
 public:
  GgmlLogCapture();
  std::string last_error_or(const std::string& fallback) const;
};

}  // namespace a4ps::llm
