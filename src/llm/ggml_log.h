// llm/ggml_log: routes ggml's and llama.cpp's log output into a4ps's log (at debug level,
// since A4PS reports failures in its own words) and keeps the last error line per thread, so
// an a4ps::Error can quote what llama.cpp said.
#pragma once

#include <ggml.h>

#include <cstdint>
#include <string>
#include <string_view>

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

// While alive, the buffers llama.cpp reports allocating on the calling thread ("... model
// buffer size = 37.32 MiB", KV, output and compute buffers) are summed: the real memory a
// loaded model and its context take, to check the estimate against.
class AllocationRecorder {
 public:
  AllocationRecorder();
  ~AllocationRecorder();
  AllocationRecorder(const AllocationRecorder&) = delete;
  AllocationRecorder& operator=(const AllocationRecorder&) = delete;
  // Bytes reported so far; 0 if llama.cpp reported none (its log format changed).
  uint64_t bytes() const;
};

// The size in a llama.cpp "... buffer size = 12.34 MiB" log line, or 0.
uint64_t parse_buffer_size_line(std::string_view line);

}  // namespace a4ps::llm
