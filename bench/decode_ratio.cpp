// Decode speed of LlamaBackend relative to llama.cpp's own llama-bench, in one invocation:
// both on the same GGUF, with the same threads, alternating rounds so machine noise hits both.
// Prints each round and the ratio of the medians (ours / llama-bench "tg" tokens per second).
//
// usage: a4ps_bench_decode MODEL.gguf LLAMA_BENCH_PATH [--threads N] [--tokens N] [--rounds N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llm/llama_backend.h"

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

// llama-bench's mean tokens/s for a pure decode test of `tokens` tokens (-p 0 -n tokens).
double run_llama_bench(const std::string& bench, const std::string& model, int threads,
                       int tokens) {
  const std::string command = bench + " -m '" + model + "' -p 0 -n " + std::to_string(tokens) +
                              " -t " + std::to_string(threads) + " -r 3 -o json 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) output.append(buffer, n);
  const auto results = nlohmann::json::parse(output);
  return results.at(0).at("avg_ts").get<double>();
}

// Ours: the same number of tokens through chat(), end-of-generation ignored so every round
// decodes exactly `tokens`; a greedy sampler, as cheap as sampling gets. Best of 3, as
// llama-bench averages 3.
double run_ours(a4ps::llm::LlamaBackend& backend, int tokens) {
  using a4ps::llm::ChatRequest;
  ChatRequest request;
  request.messages = {{a4ps::llm::Role::kUser, "Design the onboarding protocol."}};
  request.max_tokens = tokens;
  request.sampling.temperature = 0.0f;
  request.sampling.repeat_penalty = 1.0f;
  request.end_of_generation = ChatRequest::EndOfGeneration::kIgnore;
  std::vector<double> rates;
  for (int i = 0; i < 3; ++i) {
    rates.push_back(backend.chat(request).timings.decode_tokens_per_second());
  }
  double sum = 0;
  for (const double r : rates) sum += r;
  return sum / static_cast<double>(rates.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s MODEL.gguf LLAMA_BENCH [--threads N] [--tokens N] [--rounds N]\n",
                 argv[0]);
    return 2;
  }
  const std::string model = argv[1];
  const std::string bench = argv[2];
  int threads = 2;
  int tokens = 128;
  int rounds = 3;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--threads")
      threads = value;
    else if (flag == "--tokens")
      tokens = value;
    else if (flag == "--rounds")
      rounds = value;
  }
  try {
    auto backend =
        a4ps::llm::LlamaBackend::create({.path = model,
                                         .n_ctx = static_cast<uint32_t>(std::max(512, tokens + 64)),
                                         .n_threads = threads});
    std::printf("model %s: %llu parameters, %s, %d threads, %d tokens per run\n", model.c_str(),
                static_cast<unsigned long long>(backend->info().n_params),
                backend->info().file_type.c_str(), threads, tokens);
    run_ours(*backend, 16);  // warm-up: page in the weights
    std::vector<double> reference, ours;
    for (int round = 1; round <= rounds; ++round) {
      reference.push_back(run_llama_bench(bench, model, threads, tokens));
      ours.push_back(run_ours(*backend, tokens));
      std::printf("round %d: llama-bench tg %.2f t/s, LlamaBackend %.2f t/s\n", round,
                  reference.back(), ours.back());
      std::fflush(stdout);
    }
    const double ratio = median(ours) / median(reference);
    std::printf("decode ratio (LlamaBackend / llama-bench, medians): %.3f\n", ratio);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a4ps_bench_decode: %s\n", e.what());
    return 1;
  }
  return 0;
}
