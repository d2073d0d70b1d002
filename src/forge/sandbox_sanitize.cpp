// forge/sandbox_sanitize: what a tool printed, made safe for a terminal, a log or a model.
#include <cstdint>

#include "forge/sandbox.h"

namespace a4ps::forge {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Skips the escape sequence starting at text[i] == ESC (or a C1 CSI/OSC already decoded as
// `introducer`); returns the index after it.
size_t skip_escape(std::string_view text, size_t i, char introducer) {
  if (introducer == 0) {
    if (i + 1 >= text.size()) return text.size();
    introducer = text[i + 1];
    i += 2;
  }
  if (introducer == '[') {  // CSI: parameters, then one final byte in 0x40..0x7E
    while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
    return i < text.size() ? i + 1 : i;
  }
  if (introducer == ']' || introducer == 'P' || introducer == '^' || introducer == '_' ||
      introducer == 'X') {  // string sequences end at BEL or ESC '\'
    while (i < text.size()) {
      if (text[i] == '\a') return i + 1;
      if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '\\') return i + 2;
      ++i;
    }
    return i;
  }
  return i;  // a two-byte sequence (ESC c, ESC 7…)
}

// The length of the well-formed UTF-8 sequence at text[i] and its code point; 0 if malformed.
size_t decode(std::string_view text, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2, *cp = b0 & 0x1fu, min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3, *cp = b0 & 0x0fu, min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4, *cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3fu);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return len;
}

// Bidirectional overrides and isolates reorder what a reader sees ("Trojan Source").
bool is_bidi_control(uint32_t cp) {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string sanitize_output(std::string_view text, std::size_t max_bytes, bool* truncated) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  *truncated = false;
  size_t i = 0;
  auto append = [&](std::string_view piece) {
    if (out.size() + piece.size() > max_bytes) return false;
    out.append(piece);
    return true;
  };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::string_view piece;
    if (c == 0x1b) {
      i = skip_escape(text, i, 0);
      continue;
    }
    if (c < 0x80) {
      ++i;
      if (c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f)) continue;  // \r, \b, BEL, DEL…
      piece = text.substr(i - 1, 1);
    } else {
      uint32_t cp = 0;
      const size_t len = decode(text, i, &cp);
      if (len == 0) {
        piece = kReplacement;
        ++i;
      } else {
        i += len;
        if (cp == 0x9b) i = skip_escape(text, i, '[');  // C1 CSI
        if (cp == 0x9d) i = skip_escape(text, i, ']');  // C1 OSC
        if ((cp >= 0x80 && cp <= 0x9f) || is_bidi_control(cp)) continue;
        piece = text.substr(i - len, len);
      }
    }
    if (!append(piece)) {
      *truncated = true;
      break;
    }
  }
  return out;
}

}  // namespace a4ps::forge
