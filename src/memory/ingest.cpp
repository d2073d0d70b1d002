#include "memory/ingest.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <poppler-document.h>
#include <poppler-page.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/log.h"
#include "core/text.h"

namespace a4ps::memory {
namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// The best place to end a chunk that may run up to `limit` (exclusive), at or after `floor`.
size_t cut_point(std::string_view text, size_t floor, size_t limit) {
  if (limit >= text.size()) return text.size();
  const std::string_view window = text.substr(floor, limit - floor);
  for (const std::string_view mark : {"\n\n", ". ", "\n", " "}) {
    const size_t at = window.rfind(mark);
    if (at != std::string_view::npos && at > 0) return floor + at + mark.size();
  }
  size_t cut = limit;
  while (cut > floor && is_continuation(text[cut])) --cut;
  return cut > floor ? cut : limit;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

void collect_text(xmlNode* node, std::string& out) {
  for (xmlNode* n = node; n != nullptr; n = n->next) {
    if (n->type == XML_ELEMENT_NODE) {
      const std::string name = reinterpret_cast<const char*>(n->name);
      if (name == "script" || name == "style" || name == "noscript" || name == "template") continue;
      const bool block = name == "p" || name == "div" || name == "br" || name == "li" ||
                         name == "tr" || name == "section" || name == "article" ||
                         (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6');
      collect_text(n->children, out);
      if (block) out += "\n\n";
    } else if (n->type == XML_TEXT_NODE && n->content != nullptr) {
      out += reinterpret_cast<const char*>(n->content);
    }
  }
}

// Runs of spaces become one; three or more line breaks become two.
std::string tidy(const std::string& text) {
  std::string out;
  int newlines = 0;
  bool space = false;
  for (const char c : text) {
    if (c == '\n') {
      ++newlines;
      space = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (newlines > 0 && !out.empty())
      out += newlines > 1 ? "\n\n" : "\n";
    else if (space && !out.empty())
      out += ' ';
    newlines = 0;
    space = false;
    out += c;
  }
  return out;
}

std::string pdf_to_text(const std::filesystem::path& file) {
  const std::unique_ptr<poppler::document> doc(poppler::document::load_from_file(file.string()));
  if (!doc) {
    throw Error(ErrorCode::kDataLoss, file.string() + ": not a PDF that can be read (damaged?)");
  }
  if (doc->is_locked()) {
    throw Error(ErrorCode::kDataLoss, file.string() + ": the PDF is encrypted");
  }
  std::string text;
  for (int i = 0; i < doc->pages(); ++i) {
    const std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;
    const poppler::byte_array utf8 = page->text().to_utf8();
    text.append(utf8.begin(), utf8.end());
    text += "\n\n";
  }
  return text;
}

constexpr const char* kTextExtensions[] = {".txt", ".text", ".md", ".markdown", ".rst"};
constexpr const char* kOtherExtensions[] = {".html", ".htm", ".pdf"};

bool is_text_extension(const std::string& ext) {
  return std::find(std::begin(kTextExtensions), std::end(kTextExtensions), ext) !=
         std::end(kTextExtensions);
}

}  // namespace

bool is_importable(const std::filesystem::path& file) {
  const std::string ext = to_lower(file.extension().string());
  return is_text_extension(ext) ||
         std::find(std::begin(kOtherExtensions), std::end(kOtherExtensions), ext) !=
             std::end(kOtherExtensions);
}

std::string importable_extensions() {
  std::string out;
  for (const char* e : kTextExtensions) out += std::string(out.empty() ? "" : ", ") + e;
  for (const char* e : kOtherExtensions) out += std::string(", ") + e;
  return out;
}

std::vector<Chunk> chunk_text(std::string_view text, size_t max_chars, size_t overlap) {
  std::vector<Chunk> chunks;
  max_chars = std::max<size_t>(max_chars, 64);
  overlap = std::min(overlap, max_chars / 2);
  size_t start = 0;
  while (start < text.size()) {
    const size_t end =
        cut_point(text, start + max_chars / 2, std::min(text.size(), start + max_chars));
    const std::string_view piece = text.substr(start, end - start);
    if (!blank(piece)) chunks.push_back({std::string(piece), start});
    if (end >= text.size()) break;
    // The next chunk starts `overlap` back, at a word start, and always moves forward.
    size_t next = end > overlap ? end - overlap : end;
    const size_t space = text.substr(0, end).find_first_of(" \n", next);
    next = space != std::string_view::npos && space < end ? space + 1 : end;
    while (next < text.size() && is_continuation(text[next])) ++next;
    start = std::max(next, start + 1);
  }
  return chunks;
}

std::string html_to_text(std::string_view html, const std::string& where) {
  const std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
      htmlReadMemory(
          html.data(), static_cast<int>(html.size()), where.c_str(), "UTF-8",
          HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET),
      xmlFreeDoc);
  if (!doc) throw Error(ErrorCode::kDataLoss, where + ": not HTML that can be read");
  std::string text;
  collect_text(xmlDocGetRootElement(doc.get()), text);
  return tidy(text);
}

std::string extract_text(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    const std::string kind = non_regular_kind(file);
    if (kind.empty()) throw_not_found(file.string() + ": no such file");
    throw_invalid_argument(file.string() + ": is " + kind + ", not a document file");
  }
  const auto size = std::filesystem::file_size(file, ec);
  if (size > kMaxImportBytes) {
    throw Error(ErrorCode::kResourceExhausted, file.string() + ": " + std::to_string(size) +
                                                   " bytes; import takes at most " +
                                                   std::to_string(kMaxImportBytes) + " per file");
  }
  const std::string ext = to_lower(file.extension().string());
  if (ext == ".pdf") return valid_utf8(pdf_to_text(file));
  if (ext == ".html" || ext == ".htm")
    return checked_utf8(html_to_text(read_file(file), file.string()), file.string());
  if (is_text_extension(ext)) {
    const std::string text = read_file(file);
    if (text.find('\0') != std::string::npos) {
      throw_invalid_argument(file.string() + ": not a text file (it contains NUL bytes)");
    }
    return checked_utf8(text, file.string());
  }
  throw_invalid_argument(file.string() + ": unsupported format \"" + ext + "\" (import reads " +
                         importable_extensions() + ")");
}

}  // namespace a4ps::memory
