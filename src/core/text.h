// core/text: small string helpers shared by the modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace a4ps {

// `text` as a double-quoted string with JSON/TOML basic-string escapes.
std::string quote_string(std::string_view text);

// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo
// (distance <= max(1, |word| / 3)); otherwise empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Lower-case ASCII copy.
std::string to_lower(std::string_view text);

// Formats a byte count for people: "512 B", "3.2 MiB", "1.50 GiB".
std::string format_bytes(double bytes);

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD
// (models sampled at random, tools and files can produce such bytes; JSON cannot hold them).
std::string valid_utf8(std::string_view text);

// valid_utf8(text); when anything was replaced, says so once on the log, naming `what` (e.g.
// "the task", "notes.md") and how many bytes were not UTF-8, so that a Latin-1 file is not
// mangled in silence.
std::string checked_utf8(std::string_view text, const std::string& what);

// The start of `text`, at most `max_bytes` long, ending on a whole UTF-8 sequence; "…" is
// appended when anything was cut. For summaries and log lines of model output, which a byte
// cut could leave as invalid UTF-8 that no JSON can hold.
std::string utf8_prefix(std::string_view text, size_t max_bytes);

// `text` cut to at most `max_chars` bytes by removing its middle, marked "\n[...]\n": the
// start (two fifths) and the end stay, each a whole UTF-8 sequence. Unchanged when it fits.
std::string cut_middle(std::string_view text, size_t max_chars);

}  // namespace a4ps
