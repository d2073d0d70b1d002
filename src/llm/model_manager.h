// llm/model_manager: the one door to inference. Knows every model's memory cost before it
// loads (from the GGUF header), keeps the resident models within a memory budget, loads on
// demand, evicts the least recently used when the next one does not fit, and runs one
// inference at a time in fair FIFO order on a single worker thread (so each llama_context is
// driven by one thread). Persona system prompts are served from a shared prefix cache.
//
// Thread-safe: any thread may call any public member; callers block until their request ran.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "llm/backend.h"
#include "llm/llama_backend.h"
#include "llm/prefix_cache.h"
#include "llm/residency.h"

namespace a4ps::llm {

enum class BudgetPolicy {
  kFit,         // keep models while they fit; evict the least recently used
  kSequential,  // unload after every call (the blueprint's keep_alive 0)
};

// "fit" | "sequential"; throws kInvalidArgument otherwise.
BudgetPolicy parse_budget_policy(std::string_view name);

struct ModelManagerOptions {
  uint64_t budget_bytes = 8192ull << 20;
  BudgetPolicy policy = BudgetPolicy::kFit;
  // Unload a model idle this long; zero keeps it until it must be evicted.
  std::chrono::milliseconds keep_alive{0};
  // Context, batch, threads, GPU layers and mmap for every model (path and purpose are set
  // per model).
  LlamaLoadParams load_defaults;
  size_t prefix_cache_bytes = 256ull << 20;
  // Where prefix-cache states are also kept on disk; empty: RAM only.
  std::filesystem::path prefix_cache_dir;
  // When set, every request and response of every model is appended here (JSONL, see
  // docs/formats/replay.md), keyed by the model's registered name.
  std::filesystem::path record_path;
  // Every call's own deadline, from when it starts running (after its model is loaded; time in
  // the queue does not count): a call still running then is stopped and fails with
  // kDeadlineExceeded. Zero: no limit. ([inference] call_timeout_seconds.)
  std::chrono::milliseconds call_timeout{0};
  // Called from the worker while a local model loads (0..1, then 1 when ready).
  std::function<void(const std::string& model, float progress)> on_load_progress;
};

// Figures per model, for `a4ps models stats` and /metrics.
struct ModelStats {
  uint64_t estimated_bytes = 0;  // weights + KV cache + compute allowance, before loading
  uint64_t weights_bytes = 0;    // the weights, once loaded
  uint64_t actual_bytes = 0;     // what llama.cpp allocated at the last load (0: unknown)
  bool resident = false;
  uint64_t loads = 0;
  uint64_t evictions = 0;
  uint64_t requests = 0;
  uint64_t prefix_cache_hits = 0;
  uint64_t generated_tokens = 0;
  double load_ms_total = 0;
  double queue_wait_ms_total = 0;
  double time_to_first_token_ms_total = 0;
  double decode_ms_total = 0;

  double decode_tokens_per_second() const;
  // (estimated - actual) / actual, e.g. 0.12 for a 12 % overestimate; 0 when unknown.
  double estimate_error() const;
};

class ModelManager {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ModelManager(ModelManagerOptions options);
  // Fails the requests still queued with kCancelled and unloads everything.
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Makes a local GGUF model known under `name`; reads its header now (validating it and
  // estimating its cost). Throws a4ps::Error like inspect_gguf, kResourceExhausted if the
  // model alone exceeds the budget (naming both sizes), kInvalidArgument for a duplicate name.
  // `keep_alive` overrides ModelManagerOptions::keep_alive for this model.
  void register_model(const std::string& name, const std::filesystem::path& path,
                      ModelPurpose purpose = ModelPurpose::kGenerate,
                      std::optional<std::chrono::milliseconds> keep_alive = std::nullopt);

  // Makes a model served elsewhere (an OllamaBackend, OpenAIBackend or ReplayBackend) known
  // under `name`. It is outside the budget and not queued behind local inference; calls to it
  // are serialised. Throws kInvalidArgument for a duplicate name.
  void register_remote(const std::string& name, std::unique_ptr<Backend> backend);

  // Queues the request behind the ones already waiting, loads the model if needed (which may
  // evict others) and runs it. Throws a4ps::Error: kNotFound (unknown model), kCancelled
  // (request.cancel fired while queued or loading), kDeadlineExceeded (the deadline passed
  // before or during the run, or the call ran past options().call_timeout), and whatever the
  // backend throws. Other requests are unaffected
  // by a failure.
  ChatResult chat(const std::string& model, ChatRequest request,
                  std::optional<Clock::time_point> deadline = std::nullopt);
  std::vector<float> embed(const std::string& model, const std::string& text,
                           std::optional<Clock::time_point> deadline = std::nullopt);

  // Throws like Backend::check_reachable when `model` is served elsewhere and its server does
  // not answer, kNotFound for an unknown model; a local model passes (its file was read at
  // registration).
  void check_reachable(const std::string& model) const;

  std::map<std::string, ModelStats> stats() const;
  uint64_t resident_bytes() const;
  // The most that was ever resident at once; never above the budget.
  uint64_t peak_resident_bytes() const;
  size_t queue_depth() const;
  const ModelManagerOptions& options() const { return options_; }
  const PrefixCache& prefix_cache() const { return *prefix_cache_; }

 private:
  struct Slot;
  struct Job;
  void run_worker();
  void run_remote(Slot& slot, Job& job, std::optional<Clock::time_point> deadline);
  static std::optional<std::jthread> start_watchdog(Job& job,
                                                    std::optional<Clock::time_point> when);
  std::optional<Clock::time_point> call_deadline(std::optional<Clock::time_point> caller) const;
  std::string deadline_message(const std::string& model) const;
  std::unique_ptr<Backend> wrap_for_recording(const std::string& name,
                                              std::unique_ptr<Backend> backend);
  void run_job(Job& job);
  Slot& ensure_loaded(Job& job);
  void unload(Slot& slot, bool evicted);                        // requires mu_
  void unload_idle_models();                                    // requires mu_
  std::optional<Clock::time_point> next_idle_deadline() const;  // requires mu_
  void submit_and_wait(const std::shared_ptr<Job>& job, std::optional<Clock::time_point> deadline);

  const ModelManagerOptions options_;
  const std::shared_ptr<PrefixCache> prefix_cache_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;  // the map is guarded by mu_; a slot's
                                                        // backend is touched only by the worker
  std::deque<std::shared_ptr<Job>> queue_;              // guarded by mu_
  Residency residency_;                                 // guarded by mu_
  uint64_t resident_bytes_ = 0;                         // guarded by mu_
  uint64_t peak_resident_bytes_ = 0;                    // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::thread worker_;
};

}  // namespace a4ps::llm
