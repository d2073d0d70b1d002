#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "runtime/engine_check.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps::runtime {
namespace {

using testing::code_of;

std::filesystem::path fresh_image(const std::string& name) {
  const auto dir = testing::scratch_dir() / name;
  std::filesystem::remove_all(dir);
  Image::create(dir, std::string(Codex::builtin_text()));
  return dir;
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Runtime, RunsTheEngineCheckInTheImageUpToItsApproval) {
  RuntimeOptions options;
  options.image_dir = fresh_image("runtime-engine-check");
  const auto rt = Runtime::open(options);
  const graph::RunResult r =
      graph::start_run(rt->graph(std::string(kEngineCheckGraphName)), rt->checkpointer(), "t-1",
                       nullptr, rt->run_options());
  EXPECT_EQ(r.status, graph::RunStatus::kInterrupted);
  EXPECT_EQ(r.state["checks"].size(), 3u);
  EXPECT_EQ(rt->checkpointer().get_thread("t-1").graph, kEngineCheckGraphName);
}

TEST(Runtime, ASecondRuntimeOnTheSameImageIsRefusedByTheLock) {
  RuntimeOptions options;
  options.image_dir = fresh_image("runtime-lock");
  const auto first = Runtime::open(options);
  EXPECT_EQ(code_of([&] { Runtime::open(options); }), ErrorCode::kFailedPrecondition);
  // Reading works while the image is held.
  EXPECT_NO_THROW(open_state_read_only(options.image_dir));
}

TEST(Runtime, NoImageIsNotFoundForWritingAndReading) {
  RuntimeOptions options;
  options.image_dir = testing::scratch_dir() / "runtime-nowhere";
  std::filesystem::remove_all(options.image_dir);
  EXPECT_EQ(code_of([&] { Runtime::open(options); }), ErrorCode::kNotFound);
  std::string message;
  EXPECT_EQ(code_of([&] { open_state_read_only(options.image_dir); }, &message),
            ErrorCode::kNotFound);
  EXPECT_NE(message.find("a4ps init"), std::string::npos) << message;
}

TEST(Runtime, AnUnknownGraphNamesTheGraphsThisBuildHas) {
  RuntimeOptions options;
  options.image_dir = fresh_image("runtime-unknown-graph");
  const auto rt = Runtime::open(options);
  std::string message;
  EXPECT_EQ(code_of([&] { rt->graph("nope"); }, &message), ErrorCode::kNotFound);
  for (const std::string& name : graph_names()) {
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(Runtime, ConfigIsTheGivenFileElseTheImagesElseTheFallback) {
  RuntimeOptions options;
  options.image_dir = fresh_image("runtime-config");
  write(options.image_dir / "config.toml", "[graph]\nmax_steps = 7\n");
  const auto fallback = testing::scratch_dir() / "runtime-fallback.toml";
  write(fallback, "[graph]\nmax_steps = 9\n");
  const auto given = testing::scratch_dir() / "runtime-given.toml";
  write(given, "[graph]\nmax_steps = 11\n");
  options.config_fallback = fallback;
  EXPECT_EQ(load_image_config(options).graph.max_steps, 7);
  options.config_path = given;
  EXPECT_EQ(load_image_config(options).graph.max_steps, 11);
  options.config_path.clear();
  std::filesystem::remove(options.image_dir / "config.toml");
  EXPECT_EQ(load_image_config(options).graph.max_steps, 9);
  const auto rt = Runtime::open(options);
  EXPECT_EQ(rt->run_options().max_steps, 9);
}

TEST(Runtime, CodexIsTheGivenFileElseTheImagesElseTheBuiltIn) {
  RuntimeOptions options;
  options.image_dir = fresh_image("runtime-codex");
  const Config config = Config::defaults();
  const auto image_codex = options.image_dir / "codex" / "persona_codex.toml";
  EXPECT_EQ(load_image_codex(options, config).source(), image_codex.string());
  const auto given = testing::scratch_dir() / "runtime-codex.toml";
  std::filesystem::copy_file(image_codex, given, std::filesystem::copy_options::overwrite_existing);
  options.codex_path = given;
  EXPECT_EQ(load_image_codex(options, config).source(), given.string());
  options.codex_path.clear();
  std::filesystem::remove(image_codex);
  EXPECT_EQ(load_image_codex(options, config).source(), "<built-in persona_codex.toml>");
}

}  // namespace
}  // namespace a4ps::runtime
