#include "llm/stream_filter.h"

#include <algorithm>

namespace a4ps::llm {

size_t incomplete_utf8_tail(std::string_view text) {
  // Look back at most 3 bytes for the lead byte of the last sequence.
  const size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const auto byte = static_cast<unsigned char>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte
    size_t length = 1;
    if ((byte & 0xE0) == 0xC0)
      length = 2;
    else if ((byte & 0xF0) == 0xE0)
      length = 3;
    else if ((byte & 0xF8) == 0xF0)
      length = 4;
    return length > back ? back : 0;
  }
  return 0;
}

StreamFilter::StreamFilter(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  std::erase_if(stop_strings_, [](const std::string& s) { return s.empty(); });
}

std::string StreamFilter::push(std::string_view bytes) {
  if (stopped_) return {};
  pending_ += bytes;
  size_t first_stop = std::string::npos;
  for (const std::string& stop : stop_strings_) {
    first_stop = std::min(first_stop, pending_.find(stop));
  }
  if (first_stop != std::string::npos) {
    stopped_ = true;
    std::string out = emit(first_stop);
    pending_.clear();
    return out;
  }
  return emit(pending_.size() - held_back_bytes());
}

std::string StreamFilter::finish() {
  if (stopped_) return {};
  return emit(pending_.size());
}

size_t StreamFilter::held_back_bytes() const {
  size_t hold = incomplete_utf8_tail(pending_);
  // The longest suffix of pending_ that is a proper prefix of a stop string.
  for (const std::string& stop : stop_strings_) {
    const size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

std::string StreamFilter::emit(size_t n) {
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  emitted_ += out;
  return out;
}

}  // namespace a4ps::llm
