// The grammar search: every structured decision of the workflow (persona/structured_calls.h),
// answered by the demo's models (scripts/demo.sh: random weights, 4 layers, 256 wide, f16, the
// phi-3 tokenizer) through the real llama.cpp with many seeds. A schema whose grammar a model
// can drive into an explosion of parse stacks (shared/repro/brick-tools-hang) shows up here as
// a call stopped by its deadline; each call runs under [inference] call_timeout_seconds, so
// the search itself cannot hang. The deadline is generous (a wall-time bound against a hang,
// not a speed threshold): a healthy call on these models takes a few seconds even when it runs
// to its token limit, and under OMP_WAIT_POLICY=passive (tests/CMakeLists.txt) it stays within
// a few times that on a machine busy with other tests. With OpenMP's default spinning, the
// same calls ran past two minutes on CI's two cores beside another test (issue 13's note).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "core/config.h"
#include "llm/json_schema.h"
#include "llm/model_manager.h"
#include "persona/codex.h"
#include "persona/speaker.h"
#include "persona/structured_calls.h"
#include "support/test_models.h"

namespace a4ps::persona {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kSeedsPerCall = 1;  // the sanitizers watch our code; llama.cpp runs as it is
#else
constexpr int kSeedsPerCall = 3;
#endif
constexpr auto kCallDeadline = std::chrono::seconds(300);

// The demo's model for `persona` (scripts/demo.sh: seeds 11..14 in workflow order).
std::filesystem::path demo_model(const std::string& persona) {
  static const std::map<std::string, uint64_t> seeds = {
      {"alfred", 11}, {"babs", 12}, {"brick", 13}, {"robin", 14}};
  const std::filesystem::path path = testing::scratch_dir() / ("demo-" + persona + ".gguf");
  if (!std::filesystem::exists(path)) {
    llm::TestModelSpec spec;
    spec.seed = seeds.at(persona);
    spec.n_layer = 4;
    spec.n_embd = 256;
    spec.n_head = 8;
    spec.n_head_kv = 8;
    spec.n_ff = 768;
    spec.type = llm::WeightType::kF16;
    llm::write_test_model(spec, path);
  }
  return path;
}

TEST(GrammarSearch, NoWorkflowDecisionRunsIntoItsDeadlineOnTheDemoModels) {
  const Config config = Config::defaults();
  const Codex codex = Codex::builtin(config);
  llm::ModelManagerOptions options;
  options.load_defaults.n_ctx = 2048;  // the demo image's context
  options.call_timeout = kCallDeadline;
  llm::ModelManager models(options);
  for (const char* persona : {"alfred", "brick", "robin"}) {
    models.register_model(codex.persona(persona).model, demo_model(persona));
  }
  Speaker speaker(models, codex, 2048);
  const std::vector<StructuredCall> calls = workflow_structured_calls(
      "Design the core user onboarding protocol for the Community Resource Atlas.", 2, 2);
  ASSERT_GE(calls.size(), 6u);
  int answered = 0;
  int searched = 0;
  for (const StructuredCall& call : calls) {
    ++searched;
    const llm::JsonSchema schema = llm::JsonSchema::create(call.schema);
    for (std::uint32_t seed = 0; seed < kSeedsPerCall; ++seed) {
      SCOPED_TRACE(call.name + ", seed " + std::to_string(seed));
      const auto started = std::chrono::steady_clock::now();
      const Decision d = speaker.decide_directly(call.persona, call.prompt, call.schema,
                                                 nlohmann::json(), {call.name, seed * 977, 0});
      const auto seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::printf("%-15s seed %2u: %6.2f s%s\n", call.name.c_str(), seed, seconds,
                  d.used_default ? " (default)" : "");
      EXPECT_EQ(d.problem.find("deadline"), std::string::npos)
          << call.name << " with seed " << seed << " ran into its deadline after " << seconds
          << " s: " << d.problem;
      // A decision cut by its token limit is unusable but not a hang; a complete one must be
      // valid, since the grammar only admits valid documents.
      if (!d.used_default) {
        std::string why;
        EXPECT_TRUE(schema.validate(d.value, &why)) << why;
        ++answered;
      }
    }
  }
  // The search is only a search if the models got to answer: most calls end in valid JSON.
  EXPECT_GT(answered, searched * kSeedsPerCall / 2);
}

}  // namespace
}  // namespace a4ps::persona
