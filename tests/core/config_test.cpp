#include "core/config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace a4ps {
namespace {

std::string error_of(std::string_view toml) {
  try {
    Config::load_string(toml, "config.toml");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(Config, EmptyFileGivesTheDocumentedDefaults) {
  const Config c = Config::load_string("", "config.toml");
  EXPECT_EQ(c.budget.memory_mb, 8192);
  EXPECT_EQ(c.budget.policy, "fit");
  EXPECT_DOUBLE_EQ(c.motivator.dissonance_threshold, 0.8);
  EXPECT_EQ(c.motivator.curiosity_interval_seconds, 3600);
  EXPECT_EQ(c.memory.table_name, "a4ps_scrapbook");
  EXPECT_EQ(c.server.port, 8000);
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.models.refs.at("brick"), "phi3:mini-4k-instruct");
  EXPECT_EQ(c.models.refs.at("embedding"), "nomic-embed-text");
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, RenderedDefaultsLoadBackToTheDefaults) {
  const Config c = Config::load_string(render_default_config(), "defaults.toml");
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(render_config(c), render_config(Config::defaults()));
}

TEST(Config, ReadsTheBlueprintsSectionsAndTheNewOnes) {
  const Config c = Config::load_string(R"(
[models]
brick = "gguf:/models/brick.gguf"
extra = "/models/extra.gguf"
[memory]
db_path = "./lancedb"
[motivator]
dissonance_threshold = 1
[budget]
memory_mb = 4096
policy = "sequential"
[socratic]
breadth = 4
prune_threshold = 0.25
[sandbox]
runtime = "bwrap"
[server]
cors_origins = ["http://localhost:3000"]
[tools.api_keys]
TAVILY_API_KEY = "secret"
)",
                                       "config.toml");
  EXPECT_EQ(c.models.refs.at("brick"), "gguf:/models/brick.gguf");
  EXPECT_EQ(c.models.refs.at("extra"), "/models/extra.gguf");
  EXPECT_EQ(c.models.refs.at("robin"), "llama3.1:8b-instruct");  // default kept
  EXPECT_EQ(c.memory.db_path, "./lancedb");
  EXPECT_DOUBLE_EQ(c.motivator.dissonance_threshold, 1.0);
  EXPECT_EQ(c.budget.memory_mb, 4096);
  EXPECT_EQ(c.budget.policy, "sequential");
  EXPECT_EQ(c.socratic.breadth, 4);
  EXPECT_DOUBLE_EQ(c.socratic.prune_threshold, 0.25);
  EXPECT_EQ(c.sandbox.runtime, "bwrap");
  ASSERT_EQ(c.server.cors_origins.size(), 1u);
  EXPECT_EQ(c.tools.api_keys.at("TAVILY_API_KEY"), "secret");
}

TEST(Config, ShownConfigurationRedactsSecrets) {
  const Config c = Config::load_string(
      "[server]\ntoken = \"s3cret\"\n[tools.api_keys]\nTAVILY = \"k3y\"\n", "config.toml");
  EXPECT_EQ(c.server.token, "s3cret");
  const std::string shown = render_config(c);
  EXPECT_EQ(shown.find("s3cret"), std::string::npos);
  EXPECT_EQ(shown.find("k3y"), std::string::npos);
  EXPECT_NE(shown.find("token = \"<redacted>\""), std::string::npos);
}

TEST(Config, NegativeMemoryBudgetNamesFileKeyValueAndRange) {
  EXPECT_EQ(error_of("[budget]\nmemory_mb = -3\n"),
            "config.toml: [budget] memory_mb = -3: must be a positive integer");
}

TEST(Config, WrongTypeNamesWhatIsAllowed) {
  EXPECT_EQ(error_of("[server]\nport = \"eighty\"\n"),
            "config.toml: [server] port = \"eighty\": must be an integer from 1 to 65535");
  EXPECT_EQ(error_of("[motivator]\ndissonance_threshold = 1.5\n"),
            "config.toml: [motivator] dissonance_threshold = 1.5: must be a number from 0.0 to "
            "1.0");
  EXPECT_EQ(error_of("[inference]\nmmap = 1\n"),
            "config.toml: [inference] mmap = 1: must be true or false");
}

TEST(Config, EnumValuesAreListed) {
  EXPECT_EQ(error_of("[budget]\npolicy = \"greedy\"\n"),
            "config.toml: [budget] policy = \"greedy\": must be one of \"fit\", \"sequential\"");
}

TEST(Config, ModelReferencesMustBeNonEmptyStrings) {
  EXPECT_EQ(error_of("[models]\nbrick = 3\n"),
            "config.toml: [models] brick = 3: must be a non-empty string");
}

TEST(Config, SectionThatIsNotATableIsAnError) {
  EXPECT_NE(error_of("budget = 3\n").find("must be a table"), std::string::npos);
}

TEST(Config, UnknownKeysAndSectionsAreReportedWithSuggestions) {
  const Config c =
      Config::load_string("[budget]\nmemroy_mb = 1\n[sockratic]\nbreadth = 2\n", "config.toml");
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_EQ(c.warnings[0],
            "config.toml: unknown key [budget] memroy_mb (ignored); did you mean memory_mb?");
  EXPECT_EQ(c.warnings[1],
            "config.toml: unknown section [sockratic] (ignored); did you mean [socratic]?");
  EXPECT_EQ(c.budget.memory_mb, 8192);
}

TEST(Config, SyntaxErrorGivesLineAndColumn) {
  const std::string message = error_of("[budget]\nmemory_mb = = 3\n");
  EXPECT_EQ(message.rfind("config.toml:2:", 0), 0u) << message;
  EXPECT_NE(message.find("TOML syntax error"), std::string::npos);
}

TEST(Config, MissingFileIsNotFound) {
  try {
    Config::load_file("/nonexistent/config.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.toml"), std::string::npos);
  }
}

}  // namespace
}  // namespace a4ps

namespace a4ps {
namespace {

TEST(Config, KeepAliveByModelIsReadAndChecked) {
  const Config c = Config::load_string("[budget.keep_alive_by_model]\nbrick = 30\n", "config.toml");
  EXPECT_EQ(c.budget.keep_alive_by_model.at("brick"), 30);
  try {
    Config::load_string("[budget.keep_alive_by_model]\nbrick = -1\n", "config.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "config.toml: [budget.keep_alive_by_model] brick = -1: must be a non-negative "
              "integer");
  }
}

}  // namespace
}  // namespace a4ps
