// The HTTP API against a real cpp-httplib client on 127.0.0.1, over a small graph: a task goes
// through three steps that stream tokens ("slow ..." tasks pause in each step, so that runs can
// be watched, cancelled and reconnected to), then an answer.
#include "server/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "core/error.h"
#include "graph/node_context.h"
#include "image/state_db.h"
#include "memory/lexical_embedder.h"
#include "support/api_fixture.h"
#include "support/errors.h"
#include "support/scripted_backend.h"
#include "support/test_models.h"

namespace a4ps::server {
namespace {

using graph::State;
using nlohmann::json;
using testing::test_graph;

// One served API per test, named after it.
struct Served : testing::Served {
  explicit Served(ApiOptions options = {})
      : testing::Served(::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        std::move(options)) {}
};

json body_of(const httplib::Result& r) {
  return r ? json::parse(r->body, nullptr, false) : json();
}

std::string error_message(const httplib::Result& r) {
  const json b = body_of(r);
  return b.is_object() && b.contains("error") ? b["error"].value("message", "") : "";
}

TEST(ApiServer, InvokeKeepsTheBlueprintsContractAndHealthAnswers) {
  Served s;
  auto c = s.client();
  const auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(body_of(health)["status"], "ok");
  EXPECT_EQ(body_of(health)["version"], "test");
  const auto r = c.Post("/invoke", R"({"task": "tidy the atlas"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["response"], "answer to tidy the atlas");
  const std::string run_id = body_of(r)["run_id"];
  const json run = body_of(c.Get("/v1/runs/" + run_id));
  EXPECT_EQ(run["status"], "done");
  EXPECT_EQ(run["answer"], "answer to tidy the atlas");
  EXPECT_EQ(body_of(c.Get("/v1/runs"))["runs"].size(), 1u);
  EXPECT_EQ(body_of(c.Get("/v1/threads"))["threads"].size(), 1u);
}

TEST(ApiServer, EachRunOfAThreadAnswersWithItsOwnAnswer) {
  Served s;
  auto c = s.client();
  const auto first = c.Post("/v1/runs", R"({"task": "plan the week"})", "application/json");
  ASSERT_EQ(first->status, 200) << first->body;
  const std::string thread = body_of(first)["thread_id"];
  const auto second =
      c.Post("/v1/runs", json({{"task", "tidy the atlas"}, {"thread_id", thread}}).dump(),
             "application/json");
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(body_of(second)["thread_id"], thread);
  const std::string first_id = body_of(first)["run_id"];
  const std::string second_id = body_of(second)["run_id"];
  EXPECT_EQ(body_of(c.Get("/v1/runs/" + first_id))["answer"], "answer to plan the week");
  EXPECT_EQ(body_of(c.Get("/v1/runs/" + second_id))["answer"], "answer to tidy the atlas");
}

TEST(ApiServer, BadRequestsGetTheRightStatusAndAJsonError) {
  ApiOptions options;
  options.max_body_bytes = 4096;
  Served s(options);
  auto c = s.client();
  const auto malformed = c.Post("/invoke", "{\"task\": ", "application/json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_TRUE(error_message(malformed).starts_with(
      "the request body is not valid JSON: parse error at line 1, column"))
      << error_message(malformed);
  const auto wrong_type = c.Post("/invoke", R"({"task": 7})", "application/json");
  EXPECT_EQ(wrong_type->status, 400);
  EXPECT_NE(error_message(wrong_type).find("POST /invoke"), std::string::npos);
  const auto unknown_field =
      c.Post("/v1/runs", R"({"task": "x", "priority": "high"})", "application/json");
  EXPECT_EQ(unknown_field->status, 400) << unknown_field->body;
  const auto empty_task = c.Post("/invoke", R"({"task": ""})", "application/json");
  EXPECT_EQ(empty_task->status, 400);
  const std::string big = json{{"task", std::string(10000, 'a')}}.dump();
  const auto oversized = c.Post("/invoke", big, "application/json");
  EXPECT_EQ(oversized->status, 413);
  EXPECT_EQ(body_of(oversized)["error"]["code"], "too_large");
  EXPECT_EQ(error_message(oversized), "the request body (" + std::to_string(big.size()) +
                                          " bytes) is over this server's limit of 4096 bytes "
                                          "([server] max_body_bytes)");
  const auto unknown_run = c.Get("/v1/runs/r-nope");
  EXPECT_EQ(unknown_run->status, 404);
  EXPECT_EQ(body_of(unknown_run)["error"]["code"], "not_found");
  EXPECT_EQ(c.Get("/v1/runs/r-nope/events")->status, 404);
  const auto no_route = c.Get("/v2/everything");
  EXPECT_EQ(no_route->status, 404);
  EXPECT_NE(error_message(no_route).find("/openapi.json"), std::string::npos);
}

TEST(ApiServer, ATokenIsRequiredOffLoopbackAndCheckedOnEveryRequest) {
  ApiOptions open;
  open.host = "0.0.0.0";
  EXPECT_EQ(testing::code_of([&] { ApiServer({}, open); }), ErrorCode::kFailedPrecondition);
  ApiOptions secured;
  secured.token = "s3cret";
  Served s(secured);
  const auto missing = s.client().Get("/health");
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(s.client("wrong").Get("/health")->status, 401);
  EXPECT_EQ(s.client("s3cret").Get("/health")->status, 200);
  EXPECT_TRUE(body_of(s.client("s3cret").Get("/openapi.json")).contains("security"));
}

// Reads the SSE stream of a run into (id, event) pairs until it ends or `stop_after` frames.
// Like a browser's EventSource, a client whose connection fails reconnects with Last-Event-ID
// (a loaded machine may drop a connection of a hundred arriving at once).
std::vector<std::pair<std::int64_t, std::string>> read_events(const Served& s,
                                                              const std::string& run_id,
                                                              const std::string& last_event_id = {},
                                                              size_t stop_after = SIZE_MAX) {
  std::vector<std::pair<std::int64_t, std::string>> frames;
  std::string resume_from = last_event_id;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::string buffer;
    auto c = s.client();
    c.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!resume_from.empty()) headers.emplace("Last-Event-ID", resume_from);
    const auto result =
        c.Get("/v1/runs/" + run_id + "/events", headers, [&](const char* data, size_t n) {
          buffer.append(data, n);
          for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
            const std::string frame = buffer.substr(0, end);
            buffer.erase(0, end + 2);
            const auto id_at = frame.find("id: ");
            const auto event_at = frame.find("\nevent: ");
            frames.emplace_back(
                std::stoll(frame.substr(id_at + 4, event_at - id_at - 4)),
                frame.substr(event_at + 8, frame.find('\n', event_at + 8) - event_at - 8));
          }
          return frames.size() < stop_after;
        });
    if (result || frames.size() >= stop_after) break;  // ended, or we left on purpose
    if (!frames.empty()) resume_from = std::to_string(frames.back().first);
  }
  return frames;
}

TEST(ApiServer, BackgroundRunsStreamTheirEventsAndResumeFromLastEventId) {
  Served s;
  auto c = s.client();
  const auto created =
      c.Post("/v1/runs", R"({"task": "slow walk", "background": true})", "application/json");
  ASSERT_EQ(created->status, 202) << created->body;
  const std::string run_id = body_of(created)["run_id"];
  // A client that leaves after three events; the run goes on.
  const auto first = read_events(s, run_id, {}, 3);
  ASSERT_EQ(first.size(), 3u);
  const auto rest = read_events(s, run_id, std::to_string(first.back().first));
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().first, first.back().first + 1);  // nothing lost, nothing repeated
  EXPECT_EQ(rest.back().second, "run_finished");
  for (size_t i = 1; i < rest.size(); ++i) EXPECT_EQ(rest[i].first, rest[i - 1].first + 1);
  EXPECT_EQ(body_of(c.Get("/v1/runs/" + run_id))["answer"], "answer to slow walk");
}

TEST(ApiServer, ManyConcurrentClientsOfOneRunEachReceiveEveryEventInOrder) {
  Served s;
  const auto created = s.client().Post("/v1/runs", R"({"task": "slow crowd", "background": true})",
                                       "application/json");
  const std::string run_id = body_of(created)["run_id"];
  std::vector<std::future<std::vector<std::pair<std::int64_t, std::string>>>> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::async(std::launch::async, [&] { return read_events(s, run_id); }));
  }
  std::set<size_t> sizes;
  for (auto& f : clients) {
    const auto frames = f.get();
    sizes.insert(frames.size());
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().first, 1);
    EXPECT_EQ(frames.back().second, "run_finished");
    for (size_t i = 1; i < frames.size(); ++i) ASSERT_EQ(frames[i].first, frames[i - 1].first + 1);
  }
  EXPECT_EQ(sizes.size(), 1u) << "every client saw the same number of events";
}

TEST(ApiServer, ACancelledRunStopsAtAStepAndResumesToTheSameAnswer) {
  Served s;
  auto c = s.client();
  const auto created =
      c.Post("/v1/runs", R"({"task": "slow stop", "background": true})", "application/json");
  const std::string run_id = body_of(created)["run_id"];
  read_events(s, run_id, {}, 2);  // it is under way
  const auto cancelled = c.Post("/v1/runs/" + run_id + "/cancel", "{}", "application/json");
  EXPECT_EQ(cancelled->status, 202) << cancelled->body;
  read_events(s, run_id);  // until it stops
  EXPECT_EQ(body_of(c.Get("/v1/runs/" + run_id))["status"], "cancelled");
  EXPECT_EQ(c.Post("/v1/runs/" + run_id + "/cancel", "{}", "application/json")->status, 409);
  const auto resumed = c.Post("/v1/runs/" + run_id + "/resume", "{}", "application/json");
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  EXPECT_EQ(body_of(resumed)["run_id"], run_id);
  EXPECT_EQ(body_of(resumed)["answer"], "answer to slow stop");
}

TEST(ApiServer, StoppingTheServerLeavesRunsInFlightResumable) {
  auto s = std::make_unique<Served>();
  const auto created = s->client().Post(
      "/v1/runs", R"({"task": "slow shutdown", "background": true})", "application/json");
  const std::string run_id = body_of(created)["run_id"];
  read_events(*s, run_id, {}, 2);
  s->server->stop();
  const graph::RunInfo run = s->checkpointer->get_run(run_id);
  EXPECT_EQ(run.status, "cancelled");
  const graph::RunResult resumed = graph::resume_run(test_graph(), *s->checkpointer, run.thread_id);
  EXPECT_EQ(resumed.status, graph::RunStatus::kDone);
  EXPECT_EQ(resumed.state["answer"], "answer to slow shutdown");
}

TEST(ApiServer, OpenApiDescribesExactlyTheRoutesServed) {
  Served s;
  const json doc = body_of(s.client().Get("/openapi.json"));
  EXPECT_EQ(doc["openapi"], "3.1.0");
  size_t operations = 0;
  for (const auto& [path, methods] : doc["paths"].items()) operations += methods.size();
  EXPECT_EQ(operations, s.server->routes().size());
  for (const Route& r : s.server->routes()) {
    std::string method = r.method;
    for (char& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_TRUE(doc["paths"][r.path].contains(method)) << r.method << " " << r.path;
  }
  EXPECT_EQ(doc["paths"]["/invoke"]["post"]["requestBody"]["content"]["application/json"]["schema"]
               ["required"],
            json::array({"task"}));
}

TEST(ApiServer, MemoryCanBeAddedSearchedAndForgotten) {
  Served s;
  auto c = s.client();
  const auto added =
      c.Post("/v1/memory",
             R"({"text": "The ferry to Kestrel Point leaves at nine.", "namespace": "notes"})",
             "application/json");
  ASSERT_EQ(added->status, 201) << added->body;
  const std::int64_t id = body_of(added)["id"];
  EXPECT_EQ(c.Post("/v1/memory", R"({"text": "The ferry to Kestrel Point leaves at nine.",
                                     "namespace": "notes"})",
                   "application/json")
                ->status,
            200);  // already remembered
  const json hits = body_of(c.Get("/v1/memory/search?q=ferry%20Kestrel&k=3"))["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["id"], id);
  EXPECT_EQ(hits[0]["namespace"], "notes");
  EXPECT_EQ(hits[0]["keyword"]["rank"], 1);
  EXPECT_EQ(c.Get("/v1/memory/search?q=ferry&k=0")->status, 400);
  EXPECT_EQ(c.Get("/v1/memory/search?q=")->status, 400);
  EXPECT_EQ(c.Post("/v1/memory", R"({"text": "x", "importance": 3})", "application/json")->status,
            400);
  const std::string forget = "/v1/memory/" + std::to_string(id) + "/forget";
  EXPECT_EQ(c.Post(forget, "{}", "application/json")->status, 200);
  EXPECT_EQ(c.Post(forget, "{}", "application/json")->status, 404);
  EXPECT_EQ(body_of(c.Get("/v1/memory/stats"))["live"], 0);
}

TEST(ApiServer, AnInterruptedRunWaitsForTheHumansValueAndTakesIt) {
  Served s;
  auto c = s.client();
  const auto asked = c.Post("/v1/runs", R"({"task": "ask first"})", "application/json");
  ASSERT_EQ(asked->status, 200) << asked->body;
  const json run = body_of(asked);
  EXPECT_EQ(run["status"], "interrupted");
  ASSERT_EQ(run["interrupts"].size(), 1u);
  EXPECT_EQ(run["interrupts"][0]["payload"]["question"], "Answer \"ask first\"?");
  const std::string id = run["interrupts"][0]["id"];
  const std::string path = "/v1/runs/" + run["run_id"].get<std::string>() + "/resume";
  EXPECT_EQ(c.Post(path, R"({"values": {"CP:nowhere.0": true}})", "application/json")->status, 400);
  const auto approved = c.Post(path, json{{"values", {{id, true}}}}.dump(), "application/json");
  ASSERT_EQ(approved->status, 200) << approved->body;
  EXPECT_EQ(body_of(approved)["answer"], "answer to ask first (approved)");
}

TEST(ApiServer, ThreadHistoryAndForkTakeARunBackToACheckpointAndTryAgain) {
  Served s;
  auto c = s.client();
  const json first = body_of(c.Post("/invoke", R"({"task": "walk"})", "application/json"));
  const std::string thread = first["thread_id"];
  const json history = body_of(c.Get("/v1/threads/" + thread + "/history"));
  ASSERT_EQ(history["checkpoints"].size(), 5u);  // the input, then one per step
  EXPECT_EQ(history["checkpoints"][1]["pending"], json::array({"two"}));
  const auto forked = c.Post("/v1/threads/" + thread + "/fork",
                             R"({"checkpoint": 1, "update": {"task": "run"}})", "application/json");
  ASSERT_EQ(forked->status, 201) << forked->body;
  const std::string fork = body_of(forked)["thread_id"];
  EXPECT_EQ(body_of(forked)["parent_thread"], thread);
  const auto resumed = c.Post("/v1/threads/" + fork + "/resume", "{}", "application/json");
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  EXPECT_EQ(body_of(resumed)["answer"], "answer to run");
  EXPECT_EQ(c.Get("/v1/threads/t-none/history")->status, 404);
  EXPECT_EQ(c.Post("/v1/threads/" + thread + "/fork", R"({"checkpoint": 99})", "application/json")
                ->status,
            404);
}

TEST(ApiServer, DocumentsAreImportedInChunksOnceEach) {
  Served s;
  auto c = s.client();
  const json doc = {{"name", "hours.html"},
                    {"format", "html"},
                    {"content", "<html><body><p>The clinics open at eight.</p></body></html>"}};
  const auto imported = c.Post("/v1/memory/import", doc.dump(), "application/json");
  ASSERT_EQ(imported->status, 201) << imported->body;
  EXPECT_EQ(body_of(imported)["namespace"], "docs/hours");
  EXPECT_EQ(body_of(imported)["new"], 1);
  EXPECT_EQ(body_of(c.Post("/v1/memory/import", doc.dump(), "application/json"))["duplicates"], 1);
  const json hits = body_of(c.Get("/v1/memory/search?q=clinics%20open&namespace=docs"))["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["text"], "The clinics open at eight.");
  EXPECT_EQ(c.Post("/v1/memory/import", R"({"name": "x.pdf", "content": "x", "format": "pdf"})",
                   "application/json")
                ->status,
            400);
}

TEST(ApiServer, ModelsListsTheWholeSystemAndEachPersonaAndTheCodexIsReadable) {
  Served s;
  auto c = s.client();
  const json models = body_of(c.Get("/v1/models"));
  EXPECT_EQ(models["object"], "list");
  std::set<std::string> ids;
  for (const json& m : models["data"]) ids.insert(m["id"]);
  EXPECT_EQ(
      ids, (std::set<std::string>{"a4ps", "a4ps-alfred", "a4ps-babs", "a4ps-brick", "a4ps-robin"}));
  const json codex = body_of(c.Get("/v1/codex"));
  ASSERT_EQ(codex["personas"].size(), 4u);
  EXPECT_EQ(codex["personas"][0]["name"], "ALFRED");
}

TEST(ApiServer, MetricsCountRequestsByRouteAndStatusAndRunsByStatus) {
  Served s;
  auto c = s.client();
  c.Post("/invoke", R"({"task": "count me"})", "application/json");
  c.Get("/v1/runs/r-missing");
  c.Get("/v1/runs/r-missing");
  const auto m = c.Get("/metrics");
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& text = m->body;
  EXPECT_NE(text.find("a4ps_http_requests_total{route=\"POST /invoke\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("a4ps_http_requests_total{route=\"GET /v1/runs/{id}\",status=\"404\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("a4ps_http_request_seconds_count{route=\"POST /invoke\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("a4ps_runs{status=\"done\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("a4ps_runs_in_flight 0"), std::string::npos);
}

TEST(ApiServer, DocsServesSwaggerUiLocallyWithoutTheToken) {
  ApiOptions options;
  options.token = "s3cret";
  options.web_dir = A4PS_WEB_DIR;
  Served s(options);
  auto c = s.client();
  const auto page = c.Get("/docs");
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_NE(page->body.find("/docs/assets/swagger-ui-bundle.js"), std::string::npos);
  EXPECT_NE(page->body.find("url: \"/openapi.json\""), std::string::npos);
  const auto bundle = c.Get("/docs/assets/swagger-ui-bundle.js");
  ASSERT_EQ(bundle->status, 200);
  EXPECT_GT(bundle->body.size(), 100'000u);
  EXPECT_EQ(c.Get("/health")->status, 401);  // the API itself still needs the token
  const json doc = body_of(s.client("s3cret").Get("/openapi.json"));
  EXPECT_EQ(doc["paths"]["/docs"]["get"]["security"], json::array());
  EXPECT_TRUE(
      doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"].contains("text/plain"));
}

TEST(ApiServer, TheBrowserUiIsServedAndItsStreamMayCarryTheTokenInTheQuery) {
  ApiOptions options;
  options.token = "s3cret";
  options.web_dir = A4PS_WEB_DIR;
  Served s(options);
  auto c = s.client();
  const auto page = c.Get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("/ui/app.js"), std::string::npos);
  EXPECT_EQ(c.Get("/ui/app.js")->status, 200);
  EXPECT_EQ(c.Get("/ui/app.css")->status, 200);
  // EventSource cannot send headers: ?access_token= stands in for the bearer token.
  EXPECT_EQ(c.Get("/v1/runs")->status, 401);
  EXPECT_EQ(c.Get("/v1/runs?access_token=s3cret")->status, 200);
  EXPECT_EQ(c.Get("/v1/runs?access_token=wrong")->status, 401);
}

TEST(ApiServer, DocsWithoutTheAssetsSaysHowToInstallThem) {
  ApiOptions options;
  options.web_dir = testing::scratch_dir() / "no-web";
  Served s(options);
  const auto page = s.client().Get("/docs");
  EXPECT_EQ(page->status, 503);
  EXPECT_NE(error_message(page).find("npm ci --prefix web"), std::string::npos);
  EXPECT_EQ(s.client().Get("/")->status, 503);
}

// What a raw HTTP exchange on 127.0.0.1:port answers (status line to the end), for requests
// cpp-httplib's client will not send.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval wait{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
      answer.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return answer;
}

TEST(ApiServer, APostWithoutALengthIsAnswered411AtOnceAndAnEmptyBodyByTheSchema) {
  Served s;
  const std::string headers =
      "POST /invoke HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Connection: close\r\n";
  const std::string no_length = raw_exchange(s.port, headers + "\r\n");
  EXPECT_TRUE(no_length.starts_with("HTTP/1.1 411")) << no_length;
  EXPECT_NE(no_length.find("\"code\":\"length_required\""), std::string::npos) << no_length;
  EXPECT_NE(no_length.find("POST /invoke: the request has no Content-Length"), std::string::npos);
  const std::string empty = raw_exchange(s.port, headers + "Content-Length: 0\r\n\r\n");
  EXPECT_TRUE(empty.starts_with("HTTP/1.1 400")) << empty;
  EXPECT_NE(empty.find("does not match the schema of POST /invoke"), std::string::npos) << empty;
}

TEST(ApiServer, TextThatIsNotUtf8IsRefusedNamingWhereNotReplaced) {
  Served s;
  auto c = s.client();
  const auto body = c.Post("/invoke", "{\"task\": \"caf\xe9\"}", "application/json");
  EXPECT_EQ(body->status, 400);
  EXPECT_EQ(error_message(body),
            "the request body is not UTF-8 (a byte that is not, near byte 13): JSON text must be "
            "UTF-8");
  const auto query = c.Get("/v1/memory/search?q=caf%E9");
  EXPECT_EQ(query->status, 400);
  EXPECT_EQ(error_message(query),
            "query parameter q: its bytes are not UTF-8 (percent-encode UTF-8 text)");
  EXPECT_EQ(c.Get("/v1/runs/r-caf%E9")->status, 400);
  EXPECT_EQ(c.Get("/v1/memory/search?q=caf%C3%A9")->status, 200);
}

TEST(ApiServer, RunsFilteredByAStatusNoRunCanHaveAreRefused) {
  Served s;
  auto c = s.client();
  c.Post("/invoke", R"({"task": "one run"})", "application/json");
  const auto bogus = c.Get("/v1/runs?status=bogus");
  EXPECT_EQ(bogus->status, 400);
  EXPECT_EQ(error_message(bogus),
            "status=bogus: expected one of running, interrupted, done, error, cancelled, "
            "step_limit, crashed");
  EXPECT_EQ(body_of(c.Get("/v1/runs?status=done"))["runs"].size(), 1u);
  EXPECT_EQ(body_of(c.Get("/v1/runs?status=error"))["runs"].size(), 0u);
}

TEST(ApiServer, MetricsCountTheUiItsFilesTheIconAndRefusalsWithTheirStatus) {
  ApiOptions options;
  options.web_dir = A4PS_WEB_DIR;
  Served s(options);
  auto c = s.client();
  EXPECT_EQ(c.Get("/")->status, 200);
  EXPECT_EQ(c.Get("/docs")->status, 200);
  EXPECT_EQ(c.Get("/ui/app.js")->status, 200);
  EXPECT_EQ(c.Get("/ui/app.css")->status, 200);
  const auto icon = c.Get("/favicon.ico");
  ASSERT_EQ(icon->status, 200);
  EXPECT_EQ(icon->get_header_value("Content-Type"), "image/svg+xml");
  EXPECT_TRUE(icon->body.starts_with("<svg")) << icon->body;
  EXPECT_EQ(c.Get("/nowhere")->status, 404);
  const std::string text = c.Get("/metrics")->body;
  for (const char* line :
       {"{route=\"GET /\",status=\"200\"} 1", "{route=\"GET /docs\",status=\"200\"} 1",
        "{route=\"GET /ui/{file}\",status=\"200\"} 2",
        "{route=\"GET /favicon.ico\",status=\"200\"} 1", "{route=\"other\",status=\"404\"} 1",
        "a4ps_http_request_seconds_count{route=\"GET /ui/{file}\"} 2"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }
  EXPECT_EQ(text.find("status=\"-1\""), std::string::npos) << text;
}

TEST(ApiServer, ASecondServerOnTheSamePortIsRefusedAsInUse) {
  Served s;
  ApiOptions same;
  same.port = s.port;
  ApiServer second({}, same);
  try {
    second.bind();
    ADD_FAILURE() << "a second server bound port " << s.port;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(std::string(e.what()), "cannot listen on 127.0.0.1:" + std::to_string(s.port) +
                                         ": the port is in use (another server? pick another "
                                         "--port, or 0 for any free one)");
  }
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

TEST(ApiServer, BindErrorsSayWhatTheSystemSaidAndTheFix) {
  const Error denied = bind_error("127.0.0.1", 1, EACCES);
  EXPECT_EQ(denied.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(std::string(denied.what()),
            "cannot listen on 127.0.0.1:1: permission denied (ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE; use --port 1024 or above, e.g. 8000)");
  EXPECT_EQ(bind_error("::1", 8000, EADDRINUSE).code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(std::string(bind_error("::1", 8000, EADDRINUSE).what())
                  .starts_with("cannot listen on [::1]:8000: the port is in use"));
  EXPECT_NE(std::string(bind_error("10.9.9.9", 80, EADDRNOTAVAIL).what())
                .find("10.9.9.9 is not an address of this machine"),
            std::string::npos);
}

TEST(ApiServer, AnIpv6HostIsServedAndWrittenInBracketsInItsUrl) {
  for (const char* host : {"::1", "[::1]"}) {
    ApiOptions options;
    options.host = host;
    Served s(options);
    EXPECT_EQ(s.server->url(), "http://[::1]:" + std::to_string(s.port));
    httplib::Client c("::1", s.port);
    const auto health = c.Get("/health");
    ASSERT_TRUE(health) << host;
    EXPECT_EQ(health->status, 200);
  }
}

}  // namespace
}  // namespace a4ps::server
