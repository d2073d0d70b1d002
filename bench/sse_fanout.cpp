// SSE fan-out: N clients (default 100) follow one run of the fixture API (tests/support/
// api_fixture.h) whose graph streams about 1,500 token events over ~3 s. Reports the events
// delivered per second over all clients and the lag from an event's commit (its ts_ms) to its
// arrival at a client (p50, p99, max), against the same run followed by one client.
//
//   a4ps_bench_sse [CLIENTS]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "core/clock.h"
#include "support/api_fixture.h"

namespace {

struct Received {
  std::size_t events = 0;
  std::vector<std::int64_t> lags_ms;
};

Received follow(int port, const std::string& run_id) {
  Received r;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  std::string buffer;
  c.Get("/v1/runs/" + run_id + "/events", [&](const char* data, size_t n) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string frame = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      const auto at = frame.find("\"ts_ms\":");
      if (at != std::string::npos) {
        r.lags_ms.push_back(a4ps::unix_ms() - std::stoll(frame.substr(at + 8)));
      }
      ++r.events;
    }
    return true;
  });
  return r;
}

void measure(a4ps::testing::Served& served, int clients) {
  auto c = served.client();
  const auto created =
      c.Post("/v1/runs", R"({"task": "paced fan-out", "background": true})", "application/json");
  const std::string run_id = nlohmann::json::parse(created->body)["run_id"];
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::future<Received>> followers;
  for (int i = 0; i < clients; ++i) {
    followers.push_back(std::async(std::launch::async, follow, served.port, run_id));
  }
  std::size_t delivered = 0;
  std::size_t per_client = 0;
  std::vector<std::int64_t> lags;
  for (auto& f : followers) {
    Received r = f.get();
    delivered += r.events;
    per_client = std::max(per_client, r.events);
    lags.insert(lags.end(), r.lags_ms.begin(), r.lags_ms.end());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::sort(lags.begin(), lags.end());
  const auto pct = [&](double p) {
    return lags.empty() ? 0
                        : lags[std::min(lags.size() - 1,
                                        static_cast<size_t>(p * static_cast<double>(lags.size())))];
  };
  std::printf(
      "  %3d clients: %zu events each, %.0f events/s delivered in all, lag p50 %lld ms, "
      "p99 %lld ms, max %lld ms\n",
      clients, per_client, static_cast<double>(delivered) / seconds,
      static_cast<long long>(pct(0.5)), static_cast<long long>(pct(0.99)),
      static_cast<long long>(lags.empty() ? 0 : lags.back()));
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::stoi(argv[1]) : 100;
  a4ps::testing::Served served("bench-sse");
  std::printf("SSE fan-out of one run (reference: one client)\n");
  measure(served, 1);
  measure(served, clients);
}
