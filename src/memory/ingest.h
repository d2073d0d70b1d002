// memory/ingest: documents into memories. Text is read from plain text and Markdown as it is,
// from HTML through libxml2's HTML parser (scripts and styles dropped, entities decoded), and
// from PDF through poppler (the engine of pdftotext); then it is cut into overlapping chunks
// at paragraph, sentence or word boundaries.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps::memory {

inline constexpr std::uintmax_t kMaxImportBytes = 32u << 20;

struct Chunk {
  std::string text;
  size_t offset = 0;  // where it starts in the document's text
};

// Chunks of at most `max_chars` bytes, each starting about `overlap` bytes before the previous
// one ended; cuts fall on a paragraph break, else a sentence end, else a space, and never
// inside a UTF-8 character. Whitespace-only chunks are dropped.
std::vector<Chunk> chunk_text(std::string_view text, size_t max_chars = 1200, size_t overlap = 200);

// True when extract_text reads files with this one's extension.
bool is_importable(const std::filesystem::path& file);
// The extensions extract_text reads, for messages: ".txt, .text, ..., .pdf".
std::string importable_extensions();

// The file's text by its extension: .txt .text .md .markdown .rst (UTF-8 text), .html .htm,
// .pdf. Bytes that are not UTF-8 become U+FFFD, and a warning on the log says how many.
// Throws a4ps::Error: kNotFound (nothing at that path), kResourceExhausted (over
// kMaxImportBytes), kInvalidArgument (a directory, FIFO or other non-regular file; another
// extension; a "text" file that is binary), kDataLoss (an HTML or PDF file that cannot be read,
// e.g. encrypted or damaged).
std::string extract_text(const std::filesystem::path& file);

// The text of an HTML document (exposed for tests and for fetched pages).
std::string html_to_text(std::string_view html, const std::string& where);

}  // namespace a4ps::memory
