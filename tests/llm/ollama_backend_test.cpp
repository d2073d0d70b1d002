#include "llm/ollama_backend.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/errors.h"
#include "support/ollama_contract.h"

namespace a4ps::llm {
namespace {

RemoteOptions quick() {
  RemoteOptions o;
  o.max_retries = 1;
  o.initial_backoff = std::chrono::milliseconds(10);
  return o;
}

ChatRequest request(const std::string& text, int32_t max_tokens = 64) {
  ChatRequest r;
  r.messages = {{Role::kSystem, "You are ROBIN."}, {Role::kUser, text}};
  r.max_tokens = max_tokens;
  return r;
}

using testing::code_of;

TEST(OllamaBackend, StreamsNdjsonAndReportsCounts) {
  testing::OllamaContractServer ollama({"phi3:mini-4k-instruct"});
  OllamaBackend backend(ollama.url(), "phi3:mini-4k-instruct", std::nullopt, quick());
  ChatRequest r = request("gentle and welcoming");
  std::vector<std::string> pieces;
  r.on_token = [&](std::string_view p) { pieces.emplace_back(p); };
  const ChatResult result = backend.chat(r);
  EXPECT_EQ(result.text, "echo: gentle and welcoming");
  EXPECT_EQ(pieces.size(), 3u);
  EXPECT_EQ(result.stop_reason, StopReason::kEndOfGeneration);
  EXPECT_EQ(result.timings.n_prompt_tokens, 7);
  EXPECT_EQ(result.timings.n_generated_tokens, 3);
  const nlohmann::json sent = ollama.requests().back();
  EXPECT_EQ(sent["options"]["num_predict"], 64);
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  EXPECT_FALSE(sent.contains("keep_alive"));
}

TEST(OllamaBackend, SendsKeepAliveAsThePolicySays) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend sequential(ollama.url(), "m", std::chrono::seconds(0), quick());
  sequential.chat(request("a"));
  EXPECT_EQ(ollama.requests().back()["keep_alive"], 0);
  OllamaBackend fit(ollama.url(), "m", std::chrono::seconds(300), quick());
  fit.embed("b");
  EXPECT_EQ(ollama.requests().back()["keep_alive"], 300);
}

TEST(OllamaBackend, NumPredictCutIsMaxTokens) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend backend(ollama.url(), "m", std::nullopt, quick());
  const ChatResult result = backend.chat(request("one two three four", 2));
  EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(result.text, "echo: one two");
}

TEST(OllamaBackend, SendsTheSchemaAsFormat) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend backend(ollama.url(), "m", std::nullopt, quick());
  ChatRequest r = request("route");
  r.json_schema = nlohmann::json{{"type", "object"},
                                 {"properties", {{"research", {{"type", "boolean"}}}}},
                                 {"required", {"research"}}};
  const ChatResult result = backend.chat(r);
  EXPECT_EQ(nlohmann::json::parse(result.text), (nlohmann::json{{"research", true}}));
  EXPECT_EQ(ollama.requests().back()["format"], *r.json_schema);
}

TEST(OllamaBackend, StopStringsAreApplied) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend backend(ollama.url(), "m", std::nullopt, quick());
  ChatRequest r = request("alpha beta gamma");
  r.stop = {" gam"};
  const ChatResult result = backend.chat(r);
  EXPECT_EQ(result.text, "echo: alpha beta");
  EXPECT_EQ(result.stop_reason, StopReason::kStopString);
}

TEST(OllamaBackend, EmbeddingsAreUnitLength) {
  testing::OllamaContractServer ollama({"nomic-embed-text"});
  OllamaBackend backend(ollama.url(), "nomic-embed-text", std::nullopt, quick());
  const std::vector<float> v = backend.embed("search_query: atlas");
  EXPECT_EQ(v.size(), 8u);
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST(OllamaBackend, UnknownModelIsNotFoundWithOllamasAdvice) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend backend(ollama.url(), "gemma2:9b-instruct", std::nullopt, quick());
  std::string message;
  EXPECT_EQ(code_of([&] { backend.chat(request("hi")); }, &message), ErrorCode::kNotFound);
  EXPECT_NE(message.find("try pulling it first"), std::string::npos) << message;
}

TEST(OllamaBackend, TruncatedStreamAndMidStreamErrorAreUnavailable) {
  testing::OllamaContractServer ollama({"m"});
  OllamaBackend backend(ollama.url(), "m", std::nullopt, quick());
  ollama.set_fault(testing::OllamaContractServer::Fault::kTruncatedStream);
  std::string message;
  EXPECT_EQ(code_of([&] { backend.chat(request("a b")); }, &message), ErrorCode::kUnavailable);
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  ollama.set_fault(testing::OllamaContractServer::Fault::kErrorMidStream);
  EXPECT_EQ(code_of([&] { backend.chat(request("a b")); }, &message), ErrorCode::kUnavailable);
  EXPECT_NE(message.find("error was encountered"), std::string::npos) << message;
  ollama.set_fault(testing::OllamaContractServer::Fault::kNone);
  EXPECT_EQ(backend.chat(request("fine")).text, "echo: fine");  // unaffected afterwards
}

TEST(OllamaBackend, UnreachableServerIsUnavailable) {
  OllamaBackend backend("http://127.0.0.1:9", "m", std::nullopt, quick());
  EXPECT_EQ(code_of([&] { backend.chat(request("hi")); }), ErrorCode::kUnavailable);
}

// The check a front end makes before a run: a server that answers passes (whatever it answers),
// one that does not is kUnavailable naming Ollama, the URL it asked and the fix.
TEST(OllamaBackend, ReachabilityCheckNamesTheServerAndTheFix) {
  testing::OllamaContractServer ollama({"m"});
  EXPECT_NO_THROW(OllamaBackend(ollama.url(), "m", std::nullopt, quick()).check_reachable());
  const OllamaBackend down("http://127.0.0.1:9", "m", std::nullopt, quick());
  try {
    down.check_reachable();
    FAIL() << "no error for a server that is down";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    const std::string said = e.what();
    EXPECT_NE(said.find("Ollama at http://127.0.0.1:9/api/version"), std::string::npos) << said;
    EXPECT_NE(said.find("ollama serve"), std::string::npos) << said;
  }
}

}  // namespace
}  // namespace a4ps::llm
