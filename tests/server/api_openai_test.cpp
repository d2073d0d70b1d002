// POST /v1/chat/completions against a real cpp-httplib client: the whole workflow (model a4ps,
// over the fixture's small graph), one persona on scripted models, and one persona on a real
// generated model through llama.cpp (finish reasons, token counts, penalties).
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <thread>

#include "server/api_server.h"
#include "support/api_fixture.h"
#include "support/test_models.h"

namespace a4ps::server {
namespace {

using nlohmann::json;

// One served fixture API per test, named after it.
struct Served : testing::Served {
  explicit Served(ApiOptions options = {})
      : testing::Served(::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        std::move(options)) {}
};

// An API whose BRICK is a generated tiny model run by llama.cpp.
struct LocalBrick {
  Config config = Config::defaults();
  Codex codex = Codex::builtin(config);
  std::unique_ptr<graph::Checkpointer> checkpointer = graph::Checkpointer::open_in_memory();
  llm::ModelManager models{
      llm::ModelManagerOptions{.load_defaults = {.n_ctx = 2048, .n_threads = 2}}};
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  int port = 0;

  LocalBrick() {
    models.register_model("brick", testing::test_model("tiny"));
    ApiDeps deps;
    deps.checkpointer = checkpointer.get();
    deps.codex = &codex;
    deps.models = &models;
    ApiOptions options;
    options.port = 0;
    server = std::make_unique<ApiServer>(deps, options);
    port = server->bind();
    thread = std::thread([this] { server->serve(); });
  }
  ~LocalBrick() {
    server->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    return c;
  }
};

json body_of(const httplib::Result& r) {
  return r ? json::parse(r->body, nullptr, false) : json();
}

std::string error_message(const httplib::Result& r) {
  const json b = body_of(r);
  return b.is_object() && b.contains("error") ? b["error"].value("message", "") : "";
}

// The data frames of an SSE body ("[DONE]" included), parsed when they are JSON.
std::vector<json> data_frames(const std::string& body) {
  std::vector<json> frames;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    frames.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
    at = end;
  }
  return frames;
}

httplib::Result post_chat(httplib::Client& c, const json& request) {
  return c.Post("/v1/chat/completions", request.dump(), "application/json");
}

std::string streamed_content(const std::vector<json>& frames) {
  std::string content;
  for (const json& f : frames) {
    if (f.is_object() && !f["choices"].empty()) {
      content += f["choices"][0]["delta"].value("content", "");
    }
  }
  return content;
}

TEST(OpenAiApi, ChatCompletionsRunTheWholeSystemAsModelA4ps) {
  Served s;
  auto c = s.client();
  const json request = {{"model", "a4ps"},
                        {"messages", {{{"role", "user"}, {"content", "plan the week"}}}}};
  const auto r = post_chat(c, request);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = body_of(r);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "answer to plan the week");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["a4ps"]["turns"], json::array({"one", "two", "three"}));
  EXPECT_FALSE(body["a4ps"].contains("not_applied"));

  json streamed = request;
  streamed["stream"] = true;
  const auto sse = post_chat(c, streamed);
  ASSERT_EQ(sse->status, 200);
  const std::vector<json> frames = data_frames(sse->body);
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames.back(), "[DONE]");
  EXPECT_EQ(frames[frames.size() - 2]["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(frames[frames.size() - 2].contains("usage")) << "only with include_usage";
  size_t persona_events = 0;
  for (const json& f : frames) {
    if (!f.is_object()) continue;
    EXPECT_EQ(f["object"], "chat.completion.chunk");
    if (f.contains("a4ps")) ++persona_events;
  }
  EXPECT_EQ(streamed_content(frames), "answer to plan the week");
  EXPECT_GT(persona_events, 9u) << "the other nodes' events travel in the extension field";
}

TEST(OpenAiApi, TheWorkflowSaysWhichGenerationFieldsItDidNotApply) {
  Served s;
  auto c = s.client();
  const json request = {{"model", "a4ps"},
                        {"messages", {{{"role", "user"}, {"content", "plan"}}}},
                        {"temperature", 0.2},
                        {"max_tokens", 10}};
  const json body = body_of(post_chat(c, request));
  EXPECT_EQ(body["a4ps"]["not_applied"], json::array({"temperature", "max_tokens"}));
  json streamed = request;
  streamed["stream"] = true;
  const std::vector<json> frames = data_frames(post_chat(c, streamed)->body);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front()["a4ps"]["not_applied"], json::array({"temperature", "max_tokens"}));
}

TEST(OpenAiApi, ChatCompletionsTalkToOnePersonaAndRefuseUnknownModels) {
  Served s;
  auto c = s.client();
  const json request = {{"model", "a4ps-brick"},
                        {"messages",
                         {{{"role", "system"}, {"content", "Be brief."}},
                          {{"role", "user"}, {"content", "how fast?"}}}},
                        {"max_tokens", 50}};
  const auto r = post_chat(c, request);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["choices"][0]["message"]["content"], "BRICK hears: how fast?");
  json streamed = request;
  streamed["stream"] = true;
  EXPECT_EQ(streamed_content(data_frames(post_chat(c, streamed)->body)), "BRICK hears: how fast?");
  json unknown = request;
  unknown["model"] = "gpt-4o";
  const auto refused = post_chat(c, unknown);
  EXPECT_EQ(refused->status, 404);
  EXPECT_NE(error_message(refused).find("a4ps-PERSONA"), std::string::npos);
  json no_user = request;
  no_user["messages"] = {{{"role", "system"}, {"content", "hi"}}};
  no_user["model"] = "a4ps";
  EXPECT_EQ(post_chat(c, no_user)->status, 400);
}

// The OpenAI SDKs, LangChain and Open WebUI send content as an array of typed parts.
TEST(OpenAiApi, ContentPartsAreJoinedAndPartsThatAreNotTextAreRefusedByName) {
  Served s;
  auto c = s.client();
  const json parts = {
      {"model", "a4ps-brick"},
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "how"}}, {{"type", "text"}, {"text", "fast?"}}}}}}}};
  const auto r = post_chat(c, parts);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["choices"][0]["message"]["content"], "BRICK hears: how\nfast?");
  json workflow = parts;
  workflow["model"] = "a4ps";
  EXPECT_EQ(body_of(post_chat(c, workflow))["choices"][0]["message"]["content"],
            "answer to how\nfast?");
  json image = parts;
  image["messages"][0]["content"][1] = {{"type", "image_url"},
                                        {"image_url", {{"url", "data:image/png;base64,AA=="}}}};
  const auto refused = post_chat(c, image);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(error_message(refused),
            "messages[0].content[1]: a part of type \"image_url\": this server takes text only "
            "(parts of type \"text\")");
  json textless = parts;
  textless["messages"][0]["content"][0] = {{"type", "text"}};
  EXPECT_NE(error_message(post_chat(c, textless)).find("needs a \"text\" string"),
            std::string::npos);
}

TEST(OpenAiApi, IncludeUsageEndsTheStreamWithAUsageChunk) {
  Served s;
  auto c = s.client();
  for (const char* name : {"a4ps-brick", "a4ps"}) {
    const std::string model = name;
    const json request = {{"model", model},
                          {"messages", {{{"role", "user"}, {"content", "count"}}}},
                          {"stream", true},
                          {"stream_options", {{"include_usage", true}}}};
    const std::vector<json> frames = data_frames(post_chat(c, request)->body);
    ASSERT_GE(frames.size(), 3u) << model;
    EXPECT_EQ(frames.back(), "[DONE]");
    const json& usage_chunk = frames[frames.size() - 2];
    EXPECT_EQ(usage_chunk["choices"], json::array()) << model;
    const json& usage = usage_chunk["usage"];
    ASSERT_TRUE(usage.is_object()) << usage_chunk;
    EXPECT_EQ(usage["total_tokens"],
              usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
    if (model == "a4ps-brick") {
      EXPECT_GT(usage["completion_tokens"], 0);
    }
    // Every other chunk carries "usage": null, as OpenAI's do.
    EXPECT_TRUE(frames.front()["usage"].is_null());
    EXPECT_TRUE(frames.front().contains("usage"));
    EXPECT_EQ(frames[frames.size() - 3]["choices"][0]["finish_reason"], "stop");
  }
  const json unstreamed = {{"model", "a4ps-brick"},
                           {"messages", {{{"role", "user"}, {"content", "count"}}}},
                           {"stream_options", {{"include_usage", true}}}};
  const auto refused = post_chat(c, unstreamed);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(error_message(refused).find("stream_options"), std::string::npos);
}

TEST(OpenAiApi, PenaltiesAreAcceptedInOpenAisRange) {
  Served s;
  auto c = s.client();
  json request = {{"model", "a4ps-brick"},
                  {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                  {"frequency_penalty", 0.5},
                  {"presence_penalty", -0.5}};
  EXPECT_EQ(post_chat(c, request)->status, 200);
  request["frequency_penalty"] = 2.5;
  const auto refused = post_chat(c, request);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(error_message(refused).find("frequency_penalty"), std::string::npos)
      << error_message(refused);
}

// SIGTERM makes `a4ps serve` call stop(): the run is cancelled at its next step, and a client
// streaming it learns that, not that it is still running.
TEST(OpenAiApi, AStreamCutByStoppingTheServerEndsWithTheStatusTheRunIsStoredWith) {
  Served s;
  const json request = {{"model", "a4ps"},
                        {"messages", {{{"role", "user"}, {"content", "slow goodbye"}}}},
                        {"stream", true}};
  auto streaming = std::async(std::launch::async, [&s, &request] {
    auto c = s.client();
    const auto r = post_chat(c, request);
    return r ? r->body : std::string();
  });
  std::string run_id;
  for (int i = 0; i < 3000 && run_id.empty(); ++i) {
    for (const graph::RunInfo& r : s.checkpointer->list_runs()) {
      if (s.checkpointer->events(r.id, 0, 10).size() >= 3) run_id = r.id;
    }
    if (run_id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(run_id.empty()) << "the run never got under way";
  s.server->stop();
  const std::vector<json> frames = data_frames(streaming.get());
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames.back(), "[DONE]");
  const json& last = frames[frames.size() - 2];
  ASSERT_TRUE(last.contains("error")) << last;
  EXPECT_EQ(s.checkpointer->get_run(run_id).status, "cancelled");
  EXPECT_EQ(last["error"]["type"], "a4ps_run_cancelled") << last;
}

TEST(OpenAiApi, AReplyCutByMaxTokensFinishesWithLengthAndCountsItsTokens) {
  LocalBrick s;
  auto c = s.client();
  const json request = {{"model", "a4ps-brick"},
                        {"messages", {{{"role", "user"}, {"content", "Plan the onboarding."}}}},
                        {"temperature", 0},
                        {"max_tokens", 4}};
  const auto r = post_chat(c, request);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = body_of(r);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 4);
  EXPECT_GT(body["usage"]["prompt_tokens"], 10);
  json streamed = request;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  const std::vector<json> frames = data_frames(post_chat(c, streamed)->body);
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames[frames.size() - 3]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(frames[frames.size() - 2]["usage"], body["usage"]);
  EXPECT_EQ(streamed_content(frames), body["choices"][0]["message"]["content"]);
}

TEST(OpenAiApi, PresenceAndFrequencyPenaltiesChangeWhatTheModelSays) {
  LocalBrick s;
  auto c = s.client();
  const json plain = {{"model", "a4ps-brick"},
                      {"messages", {{{"role", "user"}, {"content", "Plan the onboarding."}}}},
                      {"temperature", 0},
                      {"max_tokens", 24}};
  const auto text = [&](const json& request) {
    const auto r = post_chat(c, request);
    EXPECT_EQ(r->status, 200) << r->body;
    return body_of(r)["choices"][0]["message"]["content"].get<std::string>();
  };
  const std::string greedy = text(plain);
  EXPECT_EQ(text(plain), greedy) << "greedy decoding is repeatable";
  // A generated model's greedy text seldom repeats a token, so a positive penalty has nothing
  // to act on; a negative one rewards what was said and changes what is said next.
  json presence = plain;
  presence["presence_penalty"] = -2;
  EXPECT_NE(text(presence), greedy);
  json frequency = plain;
  frequency["frequency_penalty"] = -2;
  EXPECT_NE(text(frequency), greedy);
}

}  // namespace
}  // namespace a4ps::server
