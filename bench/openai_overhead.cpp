// OpenAIBackend streaming overhead: wall time per token through OpenAIBackend::chat with
// on_token, divided by the same for a bare HTTP client that only counts the Server-Sent Events
// of an identical request, both against one real llama-server, alternating rounds.
// usage: a4ps_bench_openai MODEL.gguf [ROUNDS]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llm/openai_backend.h"
#include "support/llama_server.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTokens = 64;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

a4ps::llm::ChatRequest make_request() {
  a4ps::llm::ChatRequest r;
  r.messages = {{a4ps::llm::Role::kUser, "Design the onboarding protocol."}};
  r.max_tokens = kTokens;
  r.sampling.temperature = 0.0f;
  r.end_of_generation = a4ps::llm::ChatRequest::EndOfGeneration::kIgnore;
  return r;
}

// Seconds per token for a direct streaming request that only counts events.
double direct_ms_per_token(const std::string& url) {
  httplib::Client client(url);
  const nlohmann::json body = a4ps::llm::openai_chat_body("m", make_request(), true);
  int events = 0;
  httplib::Request request;
  request.method = "POST";
  request.path = "/v1/chat/completions";
  request.body = body.dump();
  request.set_header("Content-Type", "application/json");
  request.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    const std::string_view chunk(data, n);
    for (size_t at = chunk.find("data: {"); at != std::string_view::npos;
         at = chunk.find("data: {", at + 1)) {
      ++events;
    }
    return true;
  };
  const auto start = Clock::now();
  client.send(request);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return ms / std::max(1, events);
}

double backend_ms_per_token(a4ps::llm::OpenAIBackend& backend) {
  a4ps::llm::ChatRequest r = make_request();
  int pieces = 0;
  r.on_token = [&](std::string_view) { ++pieces; };
  const auto start = Clock::now();
  const auto result = backend.chat(r);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return ms / std::max(1, result.timings.n_generated_tokens);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  a4ps::testing::LlamaServer server(argv[1], {"-t", "2"});
  if (!server.ready()) {
    std::fprintf(stderr, "llama-server did not start\n");
    return 1;
  }
  a4ps::llm::OpenAIBackend backend(server.url(), "m");
  backend_ms_per_token(backend);  // warm-up
  direct_ms_per_token(server.url());
  std::vector<double> direct, ours;
  for (int i = 0; i < rounds; ++i) {
    direct.push_back(direct_ms_per_token(server.url()));
    ours.push_back(backend_ms_per_token(backend));
    std::printf("round %d: direct %.3f ms/token, OpenAIBackend %.3f ms/token\n", i + 1,
                direct.back(), ours.back());
  }
  std::printf("OpenAIBackend streaming / direct client, wall time per token (medians): %.3f\n",
              median(ours) / median(direct));
  return 0;
}
