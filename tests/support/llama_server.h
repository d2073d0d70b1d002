// Test support: a real llama-server (built from the same llama.cpp source) serving a generated
// model on 127.0.0.1, started by a test and stopped by it. The child dies with the test
// process (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace a4ps::testing {

// A free TCP port on 127.0.0.1 (bound, read and released).
int free_local_port();

class LlamaServer {
 public:
  // Starts llama-server with `model` and `extra_args`; waits until /health answers 200.
  // Aborts the test (FAIL) if it does not come up within 60 s.
  LlamaServer(const std::filesystem::path& model, std::vector<std::string> extra_args = {});
  ~LlamaServer();
  LlamaServer(const LlamaServer&) = delete;
  LlamaServer& operator=(const LlamaServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace a4ps::testing
