// A local web for BABS's tests: cpp-httplib on 127.0.0.1 serving fixture pages, redirects,
// oversized and slow answers, and a SearxNG-style /search. Counts the pages it served.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace a4ps::testing {

inline const char* kLighthousePage =
    "<html><head><title> Kestrel Point </title><script>var hidden = 1;</script></head>"
    "<body><h1>Lighthouse</h1><p>The lighthouse at Kestrel Point was automated in "
    "1987.</p></body></html>";

class FixtureServer {
 public:
  FixtureServer() {
    server_.Get("/page.html", [this](const httplib::Request&, httplib::Response& res) {
      ++page_hits_;
      res.set_content(kLighthousePage, "text/html; charset=utf-8");
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
  FixtureServer(const FixtureServer&) = delete;
  FixtureServer& operator=(const FixtureServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::string& last_query() const { return last_query_; }
  int page_hits() const { return page_hits_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::string last_query_;
  std::atomic<int> page_hits_ = 0;
};

}  // namespace a4ps::testing
