// BABS's web access against a local fixture server (cpp-httplib on 127.0.0.1): fetching,
// redirects on and off the allow-list, the size and time limits, search in SearxNG's JSON.
#include "web/web_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "support/errors.h"
#include "support/web_fixture.h"

namespace a4ps::web {
namespace {

using testing::code_of;
using testing::FixtureServer;

WebOptions local_only(const FixtureServer& server) {
  WebOptions o;
  o.search_url = server.url("/search");
  o.allowed_hosts = {"127.0.0.1"};
  o.max_bytes = 256 * 1024;
  o.timeout = std::chrono::milliseconds(800);
  return o;
}

TEST(WebClient, FetchesAnAllowedPageAsTextWithItsTitle) {
  FixtureServer server;
  const WebClient web(local_only(server));
  const Page page = web.fetch(server.url("/page.html"));
  EXPECT_EQ(page.title, "Kestrel Point");
  EXPECT_EQ(page.content_type, "text/html");
  EXPECT_NE(page.text.find("automated in 1987"), std::string::npos) << page.text;
  EXPECT_EQ(page.text.find("hidden"), std::string::npos) << "scripts are not text";
  EXPECT_EQ(web.fetch(server.url("/notes.txt")).text, "Plain notes: the ferry leaves at nine.");
}

TEST(WebClient, FollowsRedirectsOnTheListAndRefusesThoseOffIt) {
  FixtureServer server;
  const WebClient web(local_only(server));
  EXPECT_EQ(web.fetch(server.url("/moved")).url, server.url("/page.html"));
  try {
    web.fetch(server.url("/away"));
    FAIL() << "a redirect off the list was followed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(std::string(e.what()).find("redirected to http://blocked.invalid:80/secret: host "
                                         "blocked.invalid is not in [tools] fetch_allowed_hosts"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/loop")); }), ErrorCode::kUnavailable);
}

TEST(WebClient, RefusesHostsOffTheListBeforeConnecting) {
  FixtureServer server;
  WebOptions o = local_only(server);
  o.allowed_hosts = {"*.example.org", "localhost:9"};
  const WebClient web(o);
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/page.html")); }), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(host_allowed(parse_url("https://docs.example.org/a"), o.allowed_hosts));
  EXPECT_TRUE(host_allowed(parse_url("http://example.org/"), o.allowed_hosts));
  EXPECT_FALSE(host_allowed(parse_url("http://badexample.org/"), o.allowed_hosts));
  EXPECT_TRUE(host_allowed(parse_url("http://LOCALHOST:9/x"), o.allowed_hosts));
  EXPECT_FALSE(host_allowed(parse_url("http://localhost:10/x"), o.allowed_hosts));
}

TEST(WebClient, SizeAndTimeLimitsHoldAndErrorsNameTheUrl) {
  FixtureServer server;
  const WebClient web(local_only(server));
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/big")); }), ErrorCode::kResourceExhausted);
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/stream")); }), ErrorCode::kResourceExhausted);
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/slow")); }), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/binary")); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { web.fetch(server.url("/absent")); }), ErrorCode::kUnavailable);
  EXPECT_EQ(code_of([&] { web.fetch("ftp://127.0.0.1/x"); }), ErrorCode::kInvalidArgument);
  // Nothing listens on port 1: unreachable, named.
  try {
    web.fetch("http://127.0.0.1:1/page.html");
    FAIL() << "port 1 answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("http://127.0.0.1:1/page.html: no response"),
              std::string::npos)
        << e.what();
  }
}

TEST(WebClient, SearchReadsSearxngJson) {
  FixtureServer server;
  const WebClient web(local_only(server));
  const auto results = web.search("kestrel lighthouse & co", 5);
  EXPECT_EQ(server.last_query(), "kestrel lighthouse & co");
  ASSERT_EQ(results.size(), 2u);  // the result without a URL is skipped
  EXPECT_EQ(results[0].url, server.url("/page.html"));
  EXPECT_EQ(results[0].title, "Kestrel Point");
  EXPECT_EQ(results[1].url, "http://blocked.invalid/x");
  EXPECT_EQ(web.search("x", 1).size(), 1u);

  WebOptions bad = local_only(server);
  bad.search_url = server.url("/not-json");
  EXPECT_EQ(code_of([&] { WebClient(bad).search("x", 3); }), ErrorCode::kDataLoss);
  bad.search_url = "";
  EXPECT_EQ(code_of([&] { WebClient(bad).search("x", 3); }), ErrorCode::kFailedPrecondition);
  bad.search_url = "searx.local/search";
  EXPECT_EQ(code_of([&] { WebClient{bad}; }), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace a4ps::web
