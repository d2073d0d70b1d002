// a4ps serve [--host H] [--port P]: the HTTP API (docs/http-api.md) over the image.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/graphs.h"
#include "core/error.h"
#include "core/text.h"
#include "llm/llama_backend.h"
#include "server/api_server.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

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

// What /health reports beside "ok": the parts that work and those that are degraded.
json health_facts(const WritableImage& opened, const forge::ToolForge& forge) {
  json degraded = json::array();
  const bool gpu = llm::llama_gpu_offload_supported();
  if (!gpu) degraded.push_back("no GPU offload in this build: local models run on the CPU");
  json sandbox = nullptr;
  if (!forge.available()) {
    degraded.push_back("no sandbox (" + forge.sandbox_problem() +
                       "): the Tool Forge cannot run tools");
  } else {
    sandbox = std::string(forge::runtime_name(forge.sandbox().runtime()));
    if (forge.sandbox().runtime() != forge::SandboxRuntime::kRunsc) {
      degraded.push_back("gVisor (runsc) does not work here: tools run under bubblewrap");
    }
  }
  return {{"version", A4PS_VERSION},
          {"image", opened.image->dir().string()},
          {"gpu_offload", gpu},
          {"sandbox", sandbox},
          {"degraded", degraded}};
}

void serve(const GlobalOptions& options, const ServeArgs& args) {
  StopOnSignal stop_on_signal;
  WritableImage opened = open_image_for_writing(options);
  GraphRuntime runtime(options, opened.config, opened.image->dir());
  runtime.on_load_progress(load_progress_printer());
  const graph::CompiledGraph workflow = runtime.find(std::string(persona::kWorkflowGraphName));
  server::ApiDeps deps;
  deps.checkpointer = opened.checkpointer.get();
  deps.graph = [workflow] { return workflow; };
  deps.input = [](const std::string& task, const json& documents) {
    std::vector<persona::Document> docs;
    for (const json& d : documents) {
      docs.push_back(
          {valid_utf8(d["label"].get<std::string>()), valid_utf8(d["text"].get<std::string>())});
    }
    return persona::workflow_input(valid_utf8(task), docs);
  };
  deps.answer = [](const graph::State& s) { return s.value("answer", std::string()); };
  deps.answer_node = "alfred_answer";
  deps.turns = [](const graph::State& s) { return s.value("dialogue", json::array()); };
  deps.run_options = run_options(opened.config);
  deps.health = health_facts(opened, runtime.forge());
  deps.tools = &runtime.forge().registry();
  deps.memory = &runtime.memory();
  deps.models = &runtime.models();
  deps.codex = &runtime.codex();
  const ServerConfig& c = opened.config.server;
  server::ApiOptions o;
  o.host = args.host.empty() ? c.host : args.host;
  o.port = args.port >= 0 ? args.port : static_cast<int>(c.port);
  o.token = c.token;
  o.max_body_bytes = static_cast<std::size_t>(c.max_body_bytes);
  o.cors_origins = c.cors_origins;
  // The browser assets: $A4PS_WEB_DIR, else the source tree's web/ this binary was built from.
  const char* web_dir = std::getenv("A4PS_WEB_DIR");
  o.web_dir = web_dir != nullptr ? web_dir : A4PS_WEB_DIR;
  server::ApiServer server(deps, o);
  stop_on_signal.watch(server);
  server.bind();
  std::fprintf(stderr, "a4ps: serving the image %s on %s (API: /openapi.json; Ctrl-C stops)\n",
               opened.image->dir().c_str(), server.url().c_str());
  server.serve();
}

}  // namespace

void add_serve_command(CLI::App& app, const GlobalOptions& options) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the HTTP API on the image: POST /invoke {\"task\"} runs the four personas, /v1/runs "
      "starts, lists, cancels and resumes runs, and streams their events (Server-Sent Events, "
      "resumable with Last-Event-ID); /openapi.json describes it all. Bound to anything but "
      "loopback it needs [server] token. SIGTERM or Ctrl-C stops; runs in flight stay "
      "resumable");
  cmd->add_option("--host", args->host, "Address to bind (default: [server] host, 127.0.0.1)");
  cmd->add_option("--port", args->port, "Port (default: [server] port, 8000; 0: any free one)")
      ->check(CLI::Range(0, 65535));
  cmd->callback([&options, args] { serve(options, *args); });
}

}  // namespace a4ps::cli
