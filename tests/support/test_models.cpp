#include "support/test_models.h"

#include <stdlib.h>

#include <fstream>
#include <map>
#include <mutex>

namespace a4ps::testing {
namespace {

struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "a4ps-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

const std::filesystem::path& scratch_dir() {
  static ScratchDir dir;
  return dir.path;
}

const std::filesystem::path& test_model(const std::string& kind) {
  static std::mutex mu;
  static std::map<std::string, std::filesystem::path> made;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = made.find(kind); it != made.end()) return it->second;
  llm::TestModelSpec spec;
  if (kind == "tiny") {
    spec.seed = 1;
  } else if (kind == "tiny2") {
    spec.seed = 2;
  } else if (kind == "embed") {
    spec.seed = 3;
    spec.purpose = llm::ModelPurpose::kEmbed;
  } else {
    std::abort();
  }
  const std::filesystem::path path = scratch_dir() / (kind + ".gguf");
  llm::write_test_model(spec, path);
  return made.emplace(kind, path).first->second;
}

const std::filesystem::path& seeded_model(uint64_t seed) {
  static std::mutex mu;
  static std::map<uint64_t, std::filesystem::path> made;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = made.find(seed); it != made.end()) return it->second;
  llm::TestModelSpec spec;
  spec.seed = seed;
  const std::filesystem::path path = scratch_dir() / ("seed-" + std::to_string(seed) + ".gguf");
  llm::write_test_model(spec, path);
  return made.emplace(seed, path).first->second;
}

std::filesystem::path write_scratch_file(const std::string& name, const std::string& text) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace a4ps::testing
