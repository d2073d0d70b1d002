// a4ps serve [--host H] [--port P]: the HTTP API (docs/http-api.md) over the image.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/runtime_access.h"
#include "runtime/living_loop.h"
#include "server/api_runtime.h"
#include "server/api_server.h"

namespace a4ps::cli {
namespace {

struct ServeArgs {
  std::string host;
  int port = -1;  // -1: [server] port
};

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
}

// SIGINT and SIGTERM set a flag that a watcher polls; it stops the server (runs in flight are
// cancelled at their next step and stay resumable). A handler rather than a blocked mask:
// libraries start threads of their own before main (OpenBLAS), and any thread may take it.
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop_signal = 0;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
  void watch(server::ApiServer& server) {
    watcher_ = std::jthread([&server](std::stop_token stop) {
      while (!stop.stop_requested()) {
        if (g_stop_signal != 0) {
          std::fprintf(stderr, "a4ps: stopping; runs in flight stay resumable\n");
          server.stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~StopOnSignal() {
    if (watcher_.joinable()) {
      watcher_.request_stop();
      watcher_.join();
    }
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  std::jthread watcher_;
};

void serve(const GlobalOptions& options, const ServeArgs& args) {
  StopOnSignal stop_on_signal;
  const std::unique_ptr<runtime::Runtime> rt = open_runtime(options);
  rt->on_load_progress(load_progress_printer());
  server::ApiDeps deps = server::api_deps(*rt);
  deps.health["version"] = A4PS_VERSION;
  // The living loop pursues the goals when no user's run has come for [motivator]
  // idle_seconds (when autonomous is on; /health says why when it is off).
  runtime::LivingLoop loop(*rt);
  deps.loop = &loop;
  server::ApiOptions o = server::api_options(rt->config().server);
  if (!args.host.empty()) o.host = args.host;
  if (args.port >= 0) o.port = args.port;
  // The browser assets: $A4PS_WEB_DIR, else the source tree's web/ this binary was built from.
  const char* web_dir = std::getenv("A4PS_WEB_DIR");
  o.web_dir = web_dir != nullptr ? web_dir : A4PS_WEB_DIR;
  server::ApiServer server(deps, o);
  stop_on_signal.watch(server);
  server.bind();
  std::fprintf(stderr, "a4ps: serving the image %s on %s (API: /openapi.json; Ctrl-C stops)\n",
               rt->image().dir().c_str(), server.url().c_str());
  loop.start();
  server.serve();
  loop.stop();  // after the server: its runs are cancelled first, then the goal's run
}

}  // namespace

void add_serve_command(CLI::App& app, const GlobalOptions& options) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the HTTP API on the image: POST /invoke {\"task\"} runs the four personas, /v1/runs "
      "starts, lists, cancels and resumes runs, and streams their events (Server-Sent Events, "
      "resumable with Last-Event-ID); /openapi.json describes it all. Bound to anything but "
      "loopback it needs [server] token. With [motivator] autonomous = true it also pursues "
      "the goals (/v1/goals) when no user's run has come for idle_seconds. SIGTERM or Ctrl-C "
      "stops; runs in flight stay resumable");
  cmd->add_option("--host", args->host, "Address to bind (default: [server] host, 127.0.0.1)");
  cmd->add_option("--port", args->port, "Port (default: [server] port, 8000; 0: any free one)")
      ->check(CLI::Range(0, 65535));
  cmd->callback([&options, args] { serve(options, *args); });
}

}  // namespace a4ps::cli
