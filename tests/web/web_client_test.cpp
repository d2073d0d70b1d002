// BABS's web access against a local fixture server (cpp-httplib on 127.0.0.1): fetching,
// redirects on and off the allow-list, the size and time limits, search in SearxNG's JSON.
#include "web/web_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "support/errors.h"

namespace a4ps::web {
namespace {

using testing::code_of;

const char* kPage =
    "<html><head><title> Kestrel Point </title><script>var hidden = 1;</script></head>"
    "<body><h1>Lighthouse</h1><p>The lighthouse at Kestrel Point was automated in "
    "1987.</p></body></html>";

class FixtureServer {
 public:
  FixtureServer() {
    server_.Get("/page.html", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kPage, "text/html; charset=utf-8");
    });
    server_.Get("/notes.txt", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("Plain notes: the ferry leaves at nine.", "text/plain");
    });
    server_.Get("/moved", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/page.html");
    });
    server_.Get("/away", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://blocked.invalid/secret");
    });
    server_.Get("/loop",
                [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    server_.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(300 * 1024, 'x'), "text/plain");
    });
    server_.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      // No Content-Length: the limit must hold while reading.
      res.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
        const std::string block(16 * 1024, 'y');
        for (int i = 0; i < 40; ++i) {
          if (!sink.write(block.data(), block.size())) return false;
        }
        sink.done();
        return true;
      });
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    server_.Get("/binary", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string("\x7f"
                                  "ELF\x02\x01",
                                  6),
                      "application/octet-stream");
    });
    server_.Get("/search", [this](const httplib::Request& req, httplib::Response& res) {
      last_query_ = req.get_param_value("q");
      const nlohmann::json body = {
          {"query", last_query_},
          {"results",
           {{{"url", url("/page.html")}, {"title", "Kestrel Point"}, {"content", "automated"}},
            {{"url", "http://blocked.invalid/x"}, {"title", "Elsewhere"}, {"content", "no"}},
            {{"title", "no url"}}}}};
      res.set_content(req.get_param_value("format") == "json" ? body.dump() : "<html/>",
                      "application/json");
    });
    server_.Get("/not-json", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<html>results</html>", "text/html");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FixtureServer() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::string& last_query() const { return last_query_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::string last_query_;
};

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
