// core/files: whole-file reads and durable writes, for files that outlive a process.
#pragma once

#include <filesystem>
#include <string>

namespace a4ps {

// Writes `text` to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the directory: after a crash `path` holds the old or the new text, never a mix.
// Throws kUnavailable naming the path.
void write_file_durably(const std::filesystem::path& path, const std::string& text);

// fsync(2) of a file or directory, best effort (a path that cannot be opened is skipped).
void fsync_path(const std::filesystem::path& path);

// What is at `path` when it is not a regular file, in words ("a directory", "a FIFO", "a socket",
// "a device", "a special file"); "" for a regular file or nothing at all.
std::string non_regular_kind(const std::filesystem::path& path);

// The whole file. Throws kNotFound (missing) or kUnavailable (unreadable), naming the path.
std::string read_file(const std::filesystem::path& path);

}  // namespace a4ps
