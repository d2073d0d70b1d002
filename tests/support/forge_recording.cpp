// Writes a recording (docs/formats/replay.md) of BRICK forging a word counter: a buggy first
// attempt, then the fix. `a4ps tools forge --replay` answers from it in tests/cli/tools_flow.sh,
// so the CLI's forge is tested end to end, in the real sandbox, without a capable model.
// Usage: a4ps_test_forge_recording OUT.jsonl
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "forge/tool_forge.h"
#include "image/state_db.h"
#include "persona/codex.h"
#include "persona/speaker.h"
#include "persona/tool_use.h"
#include "support/forge_script.h"
#include "support/scripted_backend.h"

int main(int argc, char** argv) {
  using namespace a4ps;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.jsonl\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out = argv[1];
  const std::filesystem::path image =
      std::filesystem::temp_directory_path() / ("a4ps-forge-recording-" + std::to_string(getpid()));
  try {
    std::filesystem::remove(out);
    std::filesystem::create_directories(image);
    migrate_state_db(image / "state.db");
    const Config config = Config::defaults();
    const Codex codex = Codex::builtin(config);
    llm::ModelManagerOptions options;
    options.record_path = out;
    llm::ModelManager models(options);
    models.register_remote(
        codex.persona("brick").model,
        std::make_unique<testing::ScriptedBackend>([](const llm::ChatRequest& r) {
          const bool second = testing::prompt_of(r).find("Attempt 1 failed") != std::string::npos;
          return testing::word_count_answer(second ? testing::kFixedWordCount
                                                   : testing::kBuggyWordCount)
              .dump();
        }));
    persona::Speaker speaker(models, codex, static_cast<int>(config.inference.context_size));
    persona::BrickAuthor author(speaker, nullptr);
    auto registry = forge::ToolRegistry::open(image);
    auto sandbox = forge::Sandbox::create(config.sandbox);
    forge::ToolForge forge(*registry, sandbox.get(), "",
                           forge::SandboxLimits::from_config(config.sandbox),
                           static_cast<int>(config.tools.max_attempts), nullptr);
    forge::ForgeRequest request;
    request.capability = "count the words in a text";
    const forge::ForgeOutcome outcome = forge.forge(request, author);
    std::filesystem::remove_all(image);
    if (!outcome.created) {
      std::fprintf(stderr, "the scripted forge failed: %s\n", outcome.reason.c_str());
      return 1;
    }
  } catch (const Error& e) {
    std::filesystem::remove_all(image);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
