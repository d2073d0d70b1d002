// Serves the test fixture API (support/api_fixture.h) on 127.0.0.1 for clients in other
// languages (tests/node/) and for bench/http_server.sh: prints "port N" on stdout, then serves
// until stdin closes. With --bare it serves, instead, a bare cpp-httplib server with the same
// thread pool answering GET /health with a constant: the benchmark's reference.
#include <httplib.h>

#include <iostream>
#include <string>
#include <thread>

#include "support/api_fixture.h"

namespace {

void wait_for_stdin_to_close() {
  for (std::string line; std::getline(std::cin, line);) {
  }
}

int serve_bare() {
  httplib::Server bare;
  bare.new_task_queue = [] { return new httplib::ThreadPool(128); };
  bare.set_keep_alive_max_count(10'000);
  bare.set_tcp_nodelay(true);
  bare.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  const int port = bare.bind_to_any_port("127.0.0.1");
  std::thread serving([&bare] { bare.listen_after_bind(); });
  std::cout << "port " << port << std::endl;
  wait_for_stdin_to_close();
  bare.stop();
  serving.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--bare") return serve_bare();
  a4ps::testing::Served served("real-clients");
  std::cout << "port " << served.port << std::endl;
  wait_for_stdin_to_close();
  return 0;
}
