#include "llm/model_manager.h"

#include <atomic>
#include <future>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "llm/recording.h"

namespace a4ps::llm {
namespace {

double ms_between(ModelManager::Clock::time_point a, ModelManager::Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Identifies the bytes of a model file for cache keys: path, size and modification time
// (hashing gigabytes on every start would cost more than it saves).
std::string file_identity(const std::filesystem::path& path) {
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  return canonical.string() + "#" + std::to_string(size) + "@" + std::to_string(mtime);
}

}  // namespace

BudgetPolicy parse_budget_policy(std::string_view name) {
  if (name == "fit") return BudgetPolicy::kFit;
  if (name == "sequential") return BudgetPolicy::kSequential;
  throw_invalid_argument("budget policy \"" + std::string(name) +
                         "\": must be \"fit\" or \"sequential\"");
}

double ModelStats::estimate_error() const {
  if (actual_bytes == 0) return 0.0;
  return (static_cast<double>(estimated_bytes) - static_cast<double>(actual_bytes)) /
         static_cast<double>(actual_bytes);
}

double ModelStats::decode_tokens_per_second() const {
  return decode_ms_total > 0 ? static_cast<double>(generated_tokens) * 1000.0 / decode_ms_total
                             : 0.0;
}

struct ModelManager::Slot {
  std::string name;
  LlamaLoadParams params;
  std::string cache_key;
  uint64_t estimate = 0;
  // Local GGUF models load and unload under the budget on the worker thread; remote ones
  // (another process's memory, another device) are set at registration and called directly,
  // one request at a time per model.
  bool local = true;
  std::chrono::milliseconds keep_alive{0};  // zero: until evicted
  std::unique_ptr<Backend> backend;         // local: touched only by the worker thread
  std::mutex remote_mu;                     // remote: serialises calls to `backend`
  Clock::time_point last_used{};
  ModelStats stats;  // guarded by mu_
};

struct ModelManager::Job {
  enum class State { kNew, kQueued, kRunning, kDone };
  std::string model;
  std::function<void(Backend&, Slot&)> work;
  std::stop_source stop;  // fired by the caller's cancel or a passed deadline
  Clock::time_point enqueued = Clock::now();
  State state = State::kNew;  // guarded by mu_
  std::atomic<bool> deadline_passed{false};
  std::exception_ptr error;
  std::promise<void> done;
};

ModelManager::ModelManager(ModelManagerOptions options)
    : options_(std::move(options)),
      prefix_cache_(
          std::make_shared<PrefixCache>(options_.prefix_cache_bytes, options_.prefix_cache_dir)),
      residency_(options_.budget_bytes, options_.policy) {
  worker_ = std::thread([this] { run_worker(); });
}

ModelManager::~ModelManager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (const auto& job : queue_) {
      job->error = std::make_exception_ptr(
          Error(ErrorCode::kCancelled, "model manager shut down before the request ran"));
      job->state = Job::State::kDone;
      job->done.set_value();
    }
    queue_.clear();
  }
  cv_.notify_all();
  worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, slot] : slots_) {
    if (slot->backend) unload(*slot, /*evicted=*/false);
  }
}

void ModelManager::register_model(const std::string& name, const std::filesystem::path& path,
                                  ModelPurpose purpose,
                                  std::optional<std::chrono::milliseconds> keep_alive) {
  auto slot = std::make_unique<Slot>();
  slot->name = name;
  slot->keep_alive = keep_alive.value_or(options_.keep_alive);
  slot->params = options_.load_defaults;
  slot->params.path = path;
  slot->params.purpose = purpose;
  const GgufInfo info = inspect_gguf(path);
  const uint32_t n_ctx = slot->params.n_ctx != 0 ? slot->params.n_ctx : info.context_length;
  slot->estimate = info.estimate_memory_bytes(n_ctx);
  slot->stats.estimated_bytes = slot->estimate;
  slot->cache_key = file_identity(path);
  if (slot->estimate > options_.budget_bytes) {
    throw Error(ErrorCode::kResourceExhausted,
                "model " + name + " (" + path.string() + ") needs about " +
                    format_bytes(static_cast<double>(slot->estimate)) + " at context " +
                    std::to_string(n_ctx) + ", more than the whole budget of " +
                    format_bytes(static_cast<double>(options_.budget_bytes)) +
                    " ([budget] memory_mb)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (slots_.contains(name)) throw_invalid_argument("model " + name + " is already registered");
  slots_[name] = std::move(slot);
}

// Fires the job's stop source at `when` unless destroyed first. The backends watch that stop
// between tokens, during prompt evaluation and (the HTTP ones) between chunks.
std::optional<std::jthread> ModelManager::start_watchdog(Job& job,
                                                         std::optional<Clock::time_point> when) {
  if (!when) return std::nullopt;
  return std::jthread([&job, when = *when](std::stop_token finished) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_until(lock, finished, when, [] { return false; })) {
      if (!finished.stop_requested()) {
        job.deadline_passed = true;
        job.stop.request_stop();
      }
    }
  });
}

// The earlier of the caller's deadline and the call's own timeout from now.
std::optional<ModelManager::Clock::time_point> ModelManager::call_deadline(
    std::optional<Clock::time_point> caller) const {
  if (options_.call_timeout.count() <= 0) return caller;
  const Clock::time_point own = Clock::now() + options_.call_timeout;
  return caller ? std::min(*caller, own) : own;
}

std::string ModelManager::deadline_message(const std::string& model) const {
  std::string message = "model " + model + ": stopped at its deadline";
  if (options_.call_timeout.count() > 0) {
    message +=
        " (each call may run " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(options_.call_timeout).count()) +
        " s: [inference] call_timeout_seconds)";
  }
  return message;
}

void ModelManager::run_remote(Slot& slot, Job& job, std::optional<Clock::time_point> deadline) {
  const auto start = Clock::now();
  std::lock_guard<std::mutex> serial(slot.remote_mu);
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot.stats.queue_wait_ms_total += ms_between(start, Clock::now());
  }
  const auto watchdog = start_watchdog(job, call_deadline(deadline));
  job.work(*slot.backend, slot);
  std::lock_guard<std::mutex> lock(mu_);
  ++slot.stats.requests;
}

std::unique_ptr<Backend> ModelManager::wrap_for_recording(const std::string& name,
                                                          std::unique_ptr<Backend> backend) {
  if (options_.record_path.empty()) return backend;
  return std::make_unique<RecordingBackend>(std::move(backend), name, options_.record_path);
}

void ModelManager::register_remote(const std::string& name, std::unique_ptr<Backend> backend) {
  auto slot = std::make_unique<Slot>();
  slot->name = name;
  slot->local = false;
  slot->backend = wrap_for_recording(name, std::move(backend));
  std::lock_guard<std::mutex> lock(mu_);
  if (slots_.contains(name)) throw_invalid_argument("model " + name + " is already registered");
  slots_[name] = std::move(slot);
}

void ModelManager::check_reachable(const std::string& model) const {
  const Backend* remote = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = slots_.find(model);
    if (it == slots_.end())
      throw_not_found("model " + model + ": not registered with the model manager");
    if (it->second->local) return;
    remote = it->second->backend.get();  // set at registration, never replaced
  }
  remote->check_reachable();
}

void ModelManager::submit_and_wait(const std::shared_ptr<Job>& job,
                                   std::optional<Clock::time_point> deadline) {
  Slot* remote = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = slots_.find(job->model);
    if (it == slots_.end()) {
      throw_not_found("model " + job->model + ": not registered with the model manager");
    }
    if (!it->second->local) {
      remote = it->second.get();
    } else {
      job->state = Job::State::kQueued;
      queue_.push_back(job);
    }
  }
  if (remote != nullptr) {
    if (job->stop.stop_requested()) {
      throw Error(ErrorCode::kCancelled, "model " + job->model + ": cancelled");
    }
    run_remote(*remote, *job, deadline);
    return;
  }
  cv_.notify_all();
  // A job stopped while still queued leaves the queue at once; once running, the backend
  // sees the same stop token between tokens and during loading.
  std::stop_callback leave_queue(job->stop.get_token(), [this, &job] {
    std::lock_guard<std::mutex> lock(mu_);
    if (job->state != Job::State::kQueued) return;
    std::erase(queue_, job);
    job->error = std::make_exception_ptr(
        Error(ErrorCode::kCancelled, "model " + job->model + ": cancelled while queued"));
    job->state = Job::State::kDone;
    job->done.set_value();
  });
  std::future<void> done = job->done.get_future();
  if (deadline) {
    if (done.wait_until(*deadline) == std::future_status::timeout) {
      job->deadline_passed = true;
      job->stop.request_stop();
    }
  }
  done.wait();
  if (job->error) {
    if (job->deadline_passed) {
      throw Error(ErrorCode::kDeadlineExceeded, deadline_message(job->model));
    }
    std::rethrow_exception(job->error);
  }
}

ChatResult ModelManager::chat(const std::string& model, ChatRequest request,
                              std::optional<Clock::time_point> deadline) {
  auto job = std::make_shared<Job>();
  job->model = model;
  // The caller's cancel fires the job's own stop source, which the queue, the loader and the
  // backend watch; so does a passed deadline.
  std::stop_callback forward(request.cancel, [&job] { job->stop.request_stop(); });
  request.cancel = job->stop.get_token();
  ChatResult result;
  job->work = [&](Backend& backend, Slot& slot) {
    result = backend.chat(request);
    std::lock_guard<std::mutex> lock(mu_);
    slot.stats.generated_tokens += static_cast<uint64_t>(result.timings.n_generated_tokens);
    slot.stats.decode_ms_total += result.timings.decode_ms;
    slot.stats.time_to_first_token_ms_total += result.timings.prompt_ms;
    if (result.timings.n_cached_tokens > 0) ++slot.stats.prefix_cache_hits;
  };
  submit_and_wait(job, deadline);
  if (result.stop_reason == StopReason::kCancelled && job->deadline_passed) {
    throw Error(ErrorCode::kDeadlineExceeded, deadline_message(model));
  }
  return result;
}

std::vector<float> ModelManager::embed(const std::string& model, const std::string& text,
                                       std::optional<Clock::time_point> deadline) {
  auto job = std::make_shared<Job>();
  job->model = model;
  std::vector<float> embedding;
  job->work = [&](Backend& backend, Slot&) { embedding = backend.embed(text); };
  submit_and_wait(job, deadline);
  return embedding;
}

void ModelManager::run_worker() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      if (const auto next = next_idle_deadline()) {
        cv_.wait_until(lock, *next);
      } else {
        cv_.wait(lock);
      }
      unload_idle_models();
      continue;
    }
    std::shared_ptr<Job> job = queue_.front();
    queue_.pop_front();
    job->state = Job::State::kRunning;
    slots_.at(job->model)->stats.queue_wait_ms_total += ms_between(job->enqueued, Clock::now());
    lock.unlock();
    run_job(*job);
    lock.lock();
    job->state = Job::State::kDone;
    job->done.set_value();
  }
}

void ModelManager::run_job(Job& job) {
  try {
    if (job.stop.stop_requested()) {
      throw Error(ErrorCode::kCancelled, "model " + job.model + ": cancelled while queued");
    }
    Slot& slot = ensure_loaded(job);
    {
      const auto watchdog = start_watchdog(job, call_deadline(std::nullopt));
      job.work(*slot.backend, slot);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++slot.stats.requests;
    slot.last_used = Clock::now();
    residency_.touch(slot.name);
    const bool next_wants_it = !queue_.empty() && queue_.front()->model == slot.name;
    if (options_.policy == BudgetPolicy::kSequential && !next_wants_it) {
      unload(slot, /*evicted=*/false);
    }
  } catch (...) {
    job.error = std::current_exception();
  }
}

ModelManager::Slot& ModelManager::ensure_loaded(Job& job) {
  Slot* slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot = slots_.at(job.model).get();
    if (slot->backend) return *slot;
    // Reserve the model's cost before loading it, so accounting never exceeds the budget.
    for (const std::string& victim : residency_.admit(slot->name, slot->estimate)) {
      unload(*slots_.at(victim), /*evicted=*/true);
    }
    resident_bytes_ = residency_.used_bytes();
    peak_resident_bytes_ = std::max(peak_resident_bytes_, resident_bytes_);
  }
  LlamaLoadParams params = slot->params;
  const std::stop_token stop = job.stop.get_token();
  params.on_progress = [this, stop, name = slot->name](float progress) {
    if (options_.on_load_progress) options_.on_load_progress(name, progress);
    return !stop.stop_requested();
  };
  const auto start = Clock::now();
  std::unique_ptr<LlamaBackend> backend;
  try {
    backend = LlamaBackend::create(params);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    residency_.remove(slot->name);
    resident_bytes_ = residency_.used_bytes();
    throw;
  }
  backend->set_prefix_cache(prefix_cache_, slot->cache_key);
  if (options_.on_load_progress) options_.on_load_progress(slot->name, 1.0f);
  log::info("loaded model " + slot->name + " in " + std::to_string(backend->load_ms()) +
            " ms; estimated " + format_bytes(static_cast<double>(slot->estimate)) +
            ", llama.cpp allocated " +
            format_bytes(static_cast<double>(backend->allocated_bytes())));
  std::lock_guard<std::mutex> lock(mu_);
  slot->stats.loads += 1;
  slot->stats.load_ms_total += ms_between(start, Clock::now());
  slot->stats.weights_bytes = backend->info().tensor_bytes;
  slot->stats.actual_bytes = backend->allocated_bytes();
  slot->stats.resident = true;
  slot->backend = wrap_for_recording(slot->name, std::move(backend));
  return *slot;
}

void ModelManager::unload(Slot& slot, bool evicted) {
  slot.backend.reset();
  slot.stats.resident = false;
  if (evicted) ++slot.stats.evictions;
  residency_.remove(slot.name);
  resident_bytes_ = residency_.used_bytes();
}

std::optional<ModelManager::Clock::time_point> ModelManager::next_idle_deadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& [name, slot] : slots_) {
    if (!slot->local || !slot->backend || slot->keep_alive.count() == 0) continue;
    const auto expiry = slot->last_used + slot->keep_alive;
    if (!next || expiry < *next) next = expiry;
  }
  return next;
}

void ModelManager::unload_idle_models() {
  const auto now = Clock::now();
  for (auto& [name, slot] : slots_) {
    if (slot->local && slot->backend && slot->keep_alive.count() > 0 &&
        now - slot->last_used >= slot->keep_alive) {
      log::info("unloading model " + name + ": idle longer than its keep_alive");
      unload(*slot, /*evicted=*/false);
    }
  }
}

std::map<std::string, ModelStats> ModelManager::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, ModelStats> out;
  for (const auto& [name, slot] : slots_) out[name] = slot->stats;
  return out;
}

uint64_t ModelManager::resident_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resident_bytes_;
}

uint64_t ModelManager::peak_resident_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_resident_bytes_;
}

size_t ModelManager::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace a4ps::llm
