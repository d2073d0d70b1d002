// Test support: generated tiny models, made once per test process in a private temp dir that
// is removed at exit.
#pragma once

#include <filesystem>
#include <string>

#include "llm/test_model.h"

namespace a4ps::testing {

// A private directory for this process's files.
const std::filesystem::path& scratch_dir();

// "tiny" (seed 1), "tiny2" (seed 2): 2-layer chat models with the phi-3 tokenizer;
// "embed": the same shape with mean pooling.
const std::filesystem::path& test_model(const std::string& kind);

// A tiny chat model with the given seed (seeds 1 and 2 are "tiny" and "tiny2").
const std::filesystem::path& seeded_model(uint64_t seed);

// Writes `text` to scratch_dir()/name and returns the path.
std::filesystem::path write_scratch_file(const std::string& name, const std::string& text);

}  // namespace a4ps::testing
