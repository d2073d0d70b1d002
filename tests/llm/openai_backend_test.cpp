#include "llm/openai_backend.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "core/error.h"
#include "llm/json_schema.h"
#include "support/llama_server.h"
#include "support/test_models.h"

namespace a4ps::llm {
namespace {

RemoteOptions quick_retries() {
  RemoteOptions o;
  o.max_retries = 2;
  o.initial_backoff = std::chrono::milliseconds(10);
  o.http.connect_timeout = std::chrono::milliseconds(500);
  o.http.read_timeout = std::chrono::milliseconds(20000);
  return o;
}

ChatRequest request(int32_t max_tokens = 16) {
  ChatRequest r;
  r.messages = {{Role::kSystem, "You are BRICK."}, {Role::kUser, "Plan the onboarding."}};
  r.sampling.temperature = 0.0f;
  r.sampling.seed = 3;
  r.max_tokens = max_tokens;
  return r;
}

class OpenAIBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::LlamaServer(testing::test_model("tiny")); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << "llama-server did not start"; }
  static testing::LlamaServer* server_;
};
testing::LlamaServer* OpenAIBackendTest::server_ = nullptr;

TEST_F(OpenAIBackendTest, StreamedPiecesConcatenateToTheNonStreamedAnswer) {
  OpenAIBackend backend(server_->url(), "tiny", quick_retries());
  const ChatResult plain = backend.chat(request());
  ChatRequest streaming = request();
  std::string streamed;
  int pieces = 0;
  streaming.on_token = [&](std::string_view piece) {
    streamed += piece;
    ++pieces;
  };
  const ChatResult result = backend.chat(streaming);
  EXPECT_FALSE(plain.text.empty());
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.text, plain.text);
}

TEST_F(OpenAIBackendTest, MaxTokensIsReportedAsSuch) {
  OpenAIBackend backend(server_->url(), "tiny", quick_retries());
  ChatRequest r = request(4);
  r.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  const ChatResult result = backend.chat(r);
  EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(result.timings.n_generated_tokens, 4);
}

TEST_F(OpenAIBackendTest, JsonSchemaResponseFormatIsHonoured) {
  OpenAIBackend backend(server_->url(), "tiny", quick_retries());
  const nlohmann::json schema = {
      {"type", "object"},
      {"properties",
       {{"research", {{"type", "boolean"}}}, {"plan", {{"type", "string"}, {"maxLength", 12}}}}},
      {"required", {"research", "plan"}},
      {"additionalProperties", false}};
  ChatRequest r = request(200);
  r.json_schema = schema;
  const ChatResult result = backend.chat(r);
  const auto parsed = nlohmann::json::parse(result.text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << result.text;
  EXPECT_TRUE(JsonSchema::create(schema).validate(parsed)) << result.text;
}

TEST_F(OpenAIBackendTest, CancellationStopsTheStream) {
  OpenAIBackend backend(server_->url(), "tiny", quick_retries());
  ChatRequest r = request(500);
  r.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  std::stop_source stop;
  r.cancel = stop.get_token();
  int pieces = 0;
  r.on_token = [&](std::string_view) {
    if (++pieces == 3) stop.request_stop();
  };
  const ChatResult result = backend.chat(r);
  EXPECT_EQ(result.stop_reason, StopReason::kCancelled);
  EXPECT_LT(result.timings.n_generated_tokens, 100);
  // The server and the backend stay usable.
  EXPECT_FALSE(backend.chat(request(2)).text.empty());
}

TEST(OpenAIEmbeddings, HaveTheModelsDimensionAndUnitNorm) {
  testing::LlamaServer server(testing::test_model("embed"), {"--embeddings"});
  ASSERT_TRUE(server.ready());
  OpenAIBackend backend(server.url(), "embed", quick_retries());
  const std::vector<float> v = backend.embed("the community atlas");
  EXPECT_EQ(v.size(), 64u);
  EXPECT_EQ(backend.embedding_size(), 64);
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  EXPECT_NEAR(norm, 1.0, 1e-4);
}

TEST(OpenAIEmbeddings, TextLongerThanTheServersBatchIsEmbeddedInPieces) {
  // llama-server refuses an embedding input longer than its physical batch.
  testing::LlamaServer server(testing::test_model("embed"),
                              {"--embeddings", "--batch-size", "64", "--ubatch-size", "64"});
  ASSERT_TRUE(server.ready());
  OpenAIBackend backend(server.url(), "embed", quick_retries());
  std::string text;
  for (int i = 0; i < 120; ++i) text += "the community atlas lists food banks and clinics. ";
  const std::vector<float> v = backend.embed(text);
  ASSERT_EQ(v.size(), 64u);
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * static_cast<double>(x);
  EXPECT_NEAR(norm, 1.0, 1e-4);
}

TEST(OpenAIFaults, RefusedConnectionIsUnavailable) {
  OpenAIBackend backend("http://127.0.0.1:" + std::to_string(testing::free_local_port()), "m",
                        quick_retries());
  try {
    backend.chat(request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("is not reachable (connection refused): start it"),
              std::string::npos)
        << e.what();
  }
}

// A misbehaving peer, for the faults a real server cannot be asked to produce.
class FaultyServer {
 public:
  explicit FaultyServer(std::function<void(const httplib::Request&, httplib::Response&)> handler)
      : port_(testing::free_local_port()) {
    server_.Post("/v1/chat/completions", handler);
    thread_ = std::thread([this] { server_.listen("127.0.0.1", port_); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FaultyServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  httplib::Server server_;
  std::thread thread_;
};

TEST(OpenAIFaults, GarbageIsAClearError) {
  FaultyServer server([](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>not json</html>", "text/html");
  });
  OpenAIBackend backend(server.url(), "m", quick_retries());
  try {
    backend.chat(request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("malformed response"), std::string::npos);
  }
}

TEST(OpenAIFaults, TruncatedStreamIsAClearError) {
  FaultyServer server([](const httplib::Request&, httplib::Response& res) {
    res.set_content("data: {\"choices\":[{\"delta\":{\"content\":\"half\"}}]}\n\n",
                    "text/event-stream");
  });
  OpenAIBackend backend(server.url(), "m", quick_retries());
  ChatRequest r = request();
  std::string streamed;
  r.on_token = [&](std::string_view piece) { streamed += piece; };
  try {
    backend.chat(r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(OpenAIFaults, RetriesA503ThenSucceeds) {
  std::atomic<int> calls{0};
  FaultyServer server([&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 503;
      res.set_content("{\"error\":{\"message\":\"loading\"}}", "application/json");
      return;
    }
    res.set_content(R"({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],)"
                    R"("usage":{"prompt_tokens":3,"completion_tokens":1}})",
                    "application/json");
  });
  OpenAIBackend backend(server.url(), "m", quick_retries());
  EXPECT_EQ(backend.chat(request()).text, "ok");
  EXPECT_EQ(calls.load(), 2);
}

TEST(OpenAIFaults, PersistentRateLimitIsResourceExhaustedWithTheServersMessage) {
  FaultyServer server([](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_content("{\"error\":{\"message\":\"slow down\"}}", "application/json");
  });
  OpenAIBackend backend(server.url(), "m", quick_retries());
  try {
    backend.chat(request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("slow down"), std::string::npos);
  }
}

}  // namespace
}  // namespace a4ps::llm
