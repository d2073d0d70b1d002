#include "llm/llama_backend.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <span>
#include <utility>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/text.h"
#include "llm/ggml_log.h"
#include "llm/json_schema.h"
#include "llm/schema_grammar.h"
#include "llm/stream_filter.h"

namespace a4ps::llm {
namespace {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct AdapterDeleter {
  void operator()(llama_adapter_lora* a) const { llama_adapter_lora_free(a); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// A request's sampling: the chain (penalties, top-k/top-p/min-p, temperature, the seeded draw;
// or greedy) and, apart from it, the grammar of a JSON schema. The grammar is consulted the way
// llama.cpp's common sampler does it: the chain draws a token from the whole vocabulary, and
// only when the grammar rejects that one token is the grammar applied to every candidate and
// the draw repeated. A model that follows the grammar pays for one token's check, not 32,000.
struct Sampling {
  SamplerPtr chain;
  SamplerPtr grammar;  // null without a schema
  std::vector<llama_token_data> candidates;

  llama_token sample(llama_context* ctx, int32_t n_vocab) {
    llama_token token = draw(ctx, n_vocab, /*grammar_first=*/false);
    if (grammar) {
      llama_token_data single{token, 1.0f, 0.0f};
      llama_token_data_array one{&single, 1, -1, false};
      llama_sampler_apply(grammar.get(), &one);
      if (single.logit == -INFINITY) token = draw(ctx, n_vocab, /*grammar_first=*/true);
      llama_sampler_accept(grammar.get(), token);
    }
    llama_sampler_accept(chain.get(), token);
    return token;
  }

 private:
  llama_token draw(llama_context* ctx, int32_t n_vocab, bool grammar_first) {
    const float* logits = llama_get_logits_ith(ctx, -1);
    if (logits == nullptr) throw Error(ErrorCode::kInternal, "llama.cpp returned no logits");
    candidates.resize(static_cast<size_t>(n_vocab));
    for (llama_token t = 0; t < n_vocab; ++t) {
      candidates[static_cast<size_t>(t)] = llama_token_data{t, logits[t], 0.0f};
    }
    llama_token_data_array array{candidates.data(), candidates.size(), -1, false};
    if (grammar_first) llama_sampler_apply(grammar.get(), &array);
    llama_sampler_apply(chain.get(), &array);
    if (array.selected < 0 || static_cast<size_t>(array.selected) >= array.size) {
      throw Error(ErrorCode::kInternal, "the sampler selected no token");
    }
    return array.data[array.selected].id;
  }
};

void ensure_llama_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_ggml_log();
    llama_log_set(forward_ggml_log, nullptr);
    llama_backend_init();
  });
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

int32_t default_threads() {
  return physical_cpu_cores();
}

// Progress callback bridge: llama.cpp calls a C function pointer.
// Calls the user's progress callback and remembers a refusal, since llama.cpp reports a
// cancelled load only as a failed one.
struct ProgressBridge {
  const std::function<bool(float)>* callback;
  bool cancelled = false;
};

bool forward_progress(float progress, void* user_data) {
  auto* bridge = static_cast<ProgressBridge*>(user_data);
  if ((*bridge->callback)(progress)) return true;
  bridge->cancelled = true;
  return false;
}

bool stop_requested(void* user_data) {
  const auto* token = static_cast<const std::stop_token*>(user_data);
  return token != nullptr && token->stop_requested();
}

void validate_sampling(const SamplingParams& s) {
  const auto bad = [](const std::string& what) { throw_invalid_argument("sampling: " + what); };
  if (!(s.temperature >= 0.0f && s.temperature <= 100.0f)) bad("temperature must be 0..100");
  if (s.top_k < 0) bad("top_k must be >= 0");
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) bad("top_p must be in (0, 1]");
  if (!(s.min_p >= 0.0f && s.min_p <= 1.0f)) bad("min_p must be 0..1");
  if (!(s.repeat_penalty > 0.0f && s.repeat_penalty <= 10.0f))
    bad("repeat_penalty must be in (0, 10]");
  if (s.repeat_last_n < 0) bad("repeat_last_n must be >= 0");
}

}  // namespace

struct LlamaBackend::Impl {
  LlamaLoadParams params;
  GgufInfo info;
  std::unique_ptr<llama_model, ModelDeleter> model;
  std::unique_ptr<llama_context, ContextDeleter> ctx;
  const llama_vocab* vocab = nullptr;
  std::string chat_template;
  double load_ms = 0;
  uint64_t allocated_bytes = 0;
  int32_t n_threads = 0;
  // Adapters loaded for this model, by path; which are applied now, and their cache-key part.
  std::map<std::string, std::unique_ptr<llama_adapter_lora, AdapterDeleter>> adapters;
  std::vector<LoraAdapter> applied_adapters;
  std::string adapter_key;
  std::shared_ptr<PrefixCache> prefix_cache;
  std::string prefix_cache_key;
  // The request being served, for llama.cpp's abort callback.
  std::stop_token active_cancel;

  std::vector<llama_token> tokenize(std::string_view text, bool add_special,
                                    bool parse_special) const;
  std::string token_piece(llama_token token) const;
  Sampling make_sampler(const ChatRequest& request) const;
  SamplerPtr make_chain(const ChatRequest& request) const;
  std::vector<float> embed_window(std::span<const llama_token> tokens);
  // Clears the context and decodes `tokens` as one sequence with an output at every position;
  // llama_decode's return code.
  int32_t decode_sequence(std::span<const llama_token> tokens);
  // Throws kFailedPrecondition for a vocab_only load.
  void require_context() const;
  // The prompt's tokens, after cutting the middle of the longest message (not the system
  // prompt) until the prompt leaves the answer its max_tokens, or half the context. Throws
  // kResourceExhausted when even that cannot fit.
  std::vector<llama_token> fit_to_context(std::vector<ChatMessage>& messages,
                                          int32_t max_tokens) const;
  // Applies exactly `wanted` (loading adapters not loaded yet) unless already applied.
  void apply_adapters(const std::vector<LoraAdapter>& wanted);
  // Steps of create(); each throws a4ps::Error naming the file and llama.cpp's reason.
  void load_model();
  void create_context();
  // Evaluates `tokens` in batches after what the context holds; false if cancelled.
  bool evaluate(std::span<llama_token> tokens);
  // Clears the context and evaluates `prompt`. With a prefix cache, the system message's
  // tokens are restored from it (a hit) or evaluated and stored (a miss). Sets
  // `n_cached_tokens`; false if cancelled.
  bool evaluate_prompt(const std::vector<ChatMessage>& messages, std::vector<llama_token>& prompt,
                       int32_t& n_cached_tokens);
  std::string render(const std::vector<ChatMessage>& messages, bool add_assistant) const;
  void generate(const ChatRequest& request, Sampling& sampler, int32_t max_new, ChatResult& result);
};

std::vector<llama_token> LlamaBackend::Impl::tokenize(std::string_view text, bool add_special,
                                                      bool parse_special) const {
  std::vector<llama_token> tokens(text.size() + 8);
  const auto length = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX));
  int32_t n = llama_tokenize(vocab, text.data(), length, tokens.data(),
                             static_cast<int32_t>(tokens.size()), add_special, parse_special);
  if (n < 0) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), length, tokens.data(),
                       static_cast<int32_t>(tokens.size()), add_special, parse_special);
  }
  if (n < 0)
    throw Error(ErrorCode::kInternal,
                "tokenizer failed on a text of " + std::to_string(text.size()) + " bytes");
  tokens.resize(static_cast<size_t>(n));
  return tokens;
}

std::string LlamaBackend::Impl::token_piece(llama_token token) const {
  std::string piece(32, '\0');
  int32_t n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()),
                                   0, /*special=*/false);
  if (n < 0) {
    piece.resize(static_cast<size_t>(-n));
    n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0,
                             /*special=*/false);
  }
  piece.resize(static_cast<size_t>(std::max(0, n)));
  return piece;
}

Sampling LlamaBackend::Impl::make_sampler(const ChatRequest& request) const {
  Sampling sampling;
  sampling.chain = make_chain(request);
  if (request.json_schema) {
    const JsonSchema schema = JsonSchema::create(*request.json_schema);
    GgmlLogCapture capture;
    sampling.grammar.reset(llama_sampler_init_grammar(vocab, schema.grammar().c_str(), "root"));
    if (!sampling.grammar) {
      throw_invalid_argument("JSON schema: its grammar was rejected by llama.cpp (" +
                             capture.last_error_or("no reason given") + ")");
    }
  }
  return sampling;
}

SamplerPtr LlamaBackend::Impl::make_chain(const ChatRequest& request) const {
  const SamplingParams& s = request.sampling;
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (request.end_of_generation == ChatRequest::EndOfGeneration::kIgnore) {
    std::vector<llama_logit_bias> bans;
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    for (llama_token t = 0; t < n_vocab; ++t) {
      if (llama_vocab_is_eog(vocab, t)) bans.push_back({t, -INFINITY});
    }
    llama_sampler_chain_add(
        chain.get(),
        llama_sampler_init_logit_bias(n_vocab, static_cast<int32_t>(bans.size()), bans.data()));
  }
  if (s.repeat_last_n != 0 &&
      (s.repeat_penalty != 1.0f || s.frequency_penalty != 0.0f || s.presence_penalty != 0.0f)) {
    llama_sampler_chain_add(
        chain.get(),
        llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), s.repeat_last_n, s.repeat_penalty,
                                     s.frequency_penalty, s.presence_penalty));
  }
  if (s.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (s.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(s.top_k));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(s.top_p, 1));
  if (s.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(s.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(s.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(s.seed));
  return chain;
}

bool LlamaBackend::Impl::evaluate(std::span<llama_token> tokens) {
  const auto n_batch = static_cast<size_t>(llama_n_batch(ctx.get()));
  for (size_t start = 0; start < tokens.size(); start += n_batch) {
    const auto n = static_cast<int32_t>(std::min(n_batch, tokens.size() - start));
    const int32_t rc = llama_decode(ctx.get(), llama_batch_get_one(tokens.data() + start, n));
    if (rc == 2) return false;  // aborted by the abort callback
    if (rc != 0) {
      throw Error(ErrorCode::kInternal, "llama_decode failed with code " + std::to_string(rc));
    }
  }
  return true;
}

void LlamaBackend::Impl::generate(const ChatRequest& request, Sampling& sampler, int32_t max_new,
                                  ChatResult& result) {
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  StreamFilter filter(request.stop);
  const auto emit = [&](const std::string& text) {
    if (!text.empty() && request.on_token) request.on_token(text);
  };
  const auto start = std::chrono::steady_clock::now();
  result.stop_reason = StopReason::kMaxTokens;
  for (int32_t i = 0; i < max_new; ++i) {
    if (request.cancel.stop_requested()) {
      result.stop_reason = StopReason::kCancelled;
      break;
    }
    llama_token token = sampler.sample(ctx.get(), n_vocab);
    if (llama_vocab_is_eog(vocab, token)) {
      result.stop_reason = StopReason::kEndOfGeneration;
      break;
    }
    ++result.timings.n_generated_tokens;
    emit(filter.push(token_piece(token)));
    if (filter.stopped()) {
      result.stop_reason = StopReason::kStopString;
      break;
    }
    if (i + 1 == max_new) break;
    if (!evaluate(std::span<llama_token>(&token, 1))) {
      result.stop_reason = StopReason::kCancelled;
      break;
    }
  }
  emit(filter.finish());
  result.text = filter.text();
  result.timings.decode_ms = elapsed_ms(start);
}

LlamaBackend::LlamaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaBackend::~LlamaBackend() = default;

void LlamaBackend::Impl::load_model() {
  const std::string path = info.path.string();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = params.n_gpu_layers;
  mp.load_mode = params.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  mp.vocab_only = params.vocab_only;
  ProgressBridge bridge{&params.on_progress};
  if (params.on_progress) {
    mp.progress_callback = forward_progress;
    mp.progress_callback_user_data = &bridge;
  }
  GgmlLogCapture capture;
  model.reset(llama_model_load_from_file(path.c_str(), mp));
  if (!model) {
    const std::string why = capture.last_error_or("no reason given");
    if (bridge.cancelled) {
      throw Error(ErrorCode::kCancelled, path + ": loading was cancelled");
    }
    if (why.find("unknown model architecture") != std::string::npos) {
      throw_invalid_argument(path + ": architecture '" + info.architecture +
                             "' is not supported by the embedded llama.cpp");
    }
    throw_invalid_argument(path + ": llama.cpp cannot load this model: " + why);
  }
  vocab = llama_model_get_vocab(model.get());
  const char* tmpl = llama_model_chat_template(model.get(), nullptr);
  if (tmpl != nullptr) {
    chat_template = tmpl;
  } else {
    log::warn(path + ": the model has no chat template; using ChatML");
    chat_template = "chatml";
  }
}

void LlamaBackend::Impl::create_context() {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = params.n_ctx != 0 ? params.n_ctx : std::max(info.context_length, 512u);
  cp.n_batch = params.n_batch;
  if (params.purpose == ModelPurpose::kEmbed) {
    // A pooled embedding is computed from one batch: let a whole context fit in it.
    cp.n_batch = cp.n_ctx;
    cp.embeddings = true;
    if (info.pooling_type == 0) cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
  }
  cp.n_ubatch = cp.n_batch;
  if (params.reference_precision) {
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  n_threads = params.n_threads > 0 ? params.n_threads : default_threads();
  cp.n_threads = n_threads;
  cp.n_threads_batch = n_threads;
  cp.no_perf = false;
  cp.abort_callback = stop_requested;
  cp.abort_callback_data = &active_cancel;
  GgmlLogCapture capture;
  ctx.reset(llama_init_from_model(model.get(), cp));
  if (!ctx) {
    throw Error(ErrorCode::kResourceExhausted,
                info.path.string() + ": cannot create a context of " + std::to_string(cp.n_ctx) +
                    " tokens (" + capture.last_error_or("out of memory?") + ")");
  }
}

void LlamaBackend::Impl::apply_adapters(const std::vector<LoraAdapter>& wanted) {
  if (wanted == applied_adapters) return;
  std::vector<llama_adapter_lora*> handles;
  std::vector<float> scales;
  std::string key;
  for (const LoraAdapter& a : wanted) {
    if (!std::isfinite(a.scale)) throw_invalid_argument("LoRA " + a.path + ": scale is not finite");
    auto& handle = adapters[a.path];
    if (!handle) {
      check_lora_matches(a.path, info);  // llama.cpp would assert on some malformed files
      GgmlLogCapture capture;
      handle.reset(llama_adapter_lora_init(model.get(), a.path.c_str()));
      if (!handle) {
        adapters.erase(a.path);
        throw_invalid_argument("LoRA " + a.path + ": llama.cpp cannot apply it to " +
                               info.path.string() + ": " + capture.last_error_or("no reason"));
      }
    }
    handles.push_back(handle.get());
    scales.push_back(a.scale);
    key += a.path + "*" + std::to_string(a.scale) + ";";
  }
  if (llama_set_adapters_lora(ctx.get(), handles.data(), handles.size(), scales.data()) != 0) {
    throw Error(ErrorCode::kInternal, "llama_set_adapters_lora failed");
  }
  applied_adapters = wanted;
  adapter_key = hex64(fnv1a(key));
}

std::unique_ptr<LlamaBackend> LlamaBackend::create(const LlamaLoadParams& params) {
  ensure_llama_initialized();
  if (params.n_batch < 1) throw_invalid_argument("batch size must be >= 1");
  if (params.n_threads < 0) throw_invalid_argument("threads must be >= 0");
  auto impl = std::make_unique<Impl>();
  impl->params = params;
  impl->info = inspect_gguf(params.path);
  const auto start = std::chrono::steady_clock::now();
  AllocationRecorder allocations;
  impl->load_model();
  if (!params.vocab_only) impl->create_context();
  impl->load_ms = elapsed_ms(start);
  impl->allocated_bytes = allocations.bytes();
  return std::unique_ptr<LlamaBackend>(new LlamaBackend(std::move(impl)));
}

std::string LlamaBackend::Impl::render(const std::vector<ChatMessage>& messages,
                                       bool add_assistant) const {
  std::vector<llama_chat_message> chat;
  chat.reserve(messages.size());
  size_t total = 0;
  for (const ChatMessage& m : messages) {
    chat.push_back({role_name(m.role).data(), m.content.c_str()});
    total += m.content.size();
  }
  std::string buffer(total * 2 + 256, '\0');
  const char* tmpl = chat_template.c_str();
  int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_assistant,
                                        buffer.data(), static_cast<int32_t>(buffer.size()));
  if (n > static_cast<int32_t>(buffer.size())) {
    buffer.resize(static_cast<size_t>(n));
    n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_assistant, buffer.data(), n);
  }
  if (n < 0) {
    throw_invalid_argument(info.path.string() + ": its chat template is not one llama.cpp knows");
  }
  buffer.resize(static_cast<size_t>(n));
  return buffer;
}

std::string LlamaBackend::render_prompt(const std::vector<ChatMessage>& messages) const {
  return impl_->render(messages, /*add_assistant=*/true);
}

std::vector<llama_token> LlamaBackend::Impl::fit_to_context(std::vector<ChatMessage>& messages,
                                                            int32_t max_tokens) const {
  const auto n_ctx = static_cast<int32_t>(llama_n_ctx(ctx.get()));
  // The answer keeps the room it asked for, up to half the context.
  const int32_t budget = n_ctx - std::clamp(max_tokens, 1, n_ctx / 2);
  std::vector<llama_token> prompt = tokenize(render(messages, true), true, true);
  if (std::cmp_greater(prompt.size(), budget)) {
    log::info(info.path.filename().string() + ": a prompt of " + std::to_string(prompt.size()) +
              " tokens is cut in its middle to fit the context of " + std::to_string(n_ctx));
  }
  for (int attempt = 0; std::cmp_greater(prompt.size(), budget) && attempt < 8; ++attempt) {
    // The longest message other than the system prompt loses its middle: as many characters
    // as its share of the tokens that are too many, and a little more, since characters are
    // not tokens.
    size_t longest = messages.size();
    for (size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role == Role::kSystem && messages.size() > 1) continue;
      if (longest == messages.size() ||
          messages[i].content.size() > messages[longest].content.size()) {
        longest = i;
      }
    }
    std::string& content = messages[longest].content;
    const auto own_tokens =
        static_cast<double>(std::max<size_t>(tokenize(content, false, false).size(), 1));
    const double others = static_cast<double>(prompt.size()) - own_tokens;
    const double room = static_cast<double>(budget) - others;
    if (room <= 0 || content.empty()) break;  // the rest alone is too long
    const double keep = std::min(0.95 * room / own_tokens, 0.95);
    content = cut_middle(content, static_cast<size_t>(keep * static_cast<double>(content.size())));
    prompt = tokenize(render(messages, true), true, true);
  }
  if (std::cmp_greater(prompt.size(), budget)) {
    throw Error(ErrorCode::kResourceExhausted,
                "prompt is " + std::to_string(prompt.size()) +
                    " tokens even with its longest message cut, but the context holds " +
                    std::to_string(n_ctx) + " with room for the answer; shorten the system " +
                    "prompt or raise [inference] context_size");
  }
  return prompt;
}

bool LlamaBackend::Impl::evaluate_prompt(const std::vector<ChatMessage>& messages,
                                         std::vector<llama_token>& prompt,
                                         int32_t& n_cached_tokens) {
  n_cached_tokens = 0;
  llama_memory_clear(llama_get_memory(ctx.get()), true);
  if (!prefix_cache || messages.empty() || messages.front().role != Role::kSystem) {
    return evaluate(prompt);
  }
  // The system message alone, rendered and tokenized; usable when the whole prompt's tokens
  // start with exactly these (true of the chat templates llama.cpp knows, but checked).
  std::vector<llama_token> prefix = tokenize(render({messages.front()}, false), true, true);
  if (prefix.empty() || prefix.size() >= prompt.size() ||
      !std::equal(prefix.begin(), prefix.end(), prompt.begin())) {
    return evaluate(prompt);
  }
  const std::string_view token_bytes(reinterpret_cast<const char*>(prefix.data()),
                                     prefix.size() * sizeof(llama_token));
  const std::string key = prefix_cache_key + "|lora=" + adapter_key +
                          "|ctx=" + std::to_string(llama_n_ctx(ctx.get())) +
                          "|prefix=" + hex64(fnv1a(token_bytes));
  const std::span<llama_token> rest(prompt.data() + prefix.size(), prompt.size() - prefix.size());
  if (const auto state = prefix_cache->find(key)) {
    if (llama_state_seq_set_data(ctx.get(), state->data(), state->size(), 0) != 0) {
      n_cached_tokens = static_cast<int32_t>(prefix.size());
      return evaluate(rest);
    }
    log::warn("prefix cache: a stored state did not restore; evaluating the prompt in full");
    llama_memory_clear(llama_get_memory(ctx.get()), true);
  }
  if (!evaluate(prefix)) return false;
  PrefixCache::State state(llama_state_seq_get_size(ctx.get(), 0));
  state.resize(llama_state_seq_get_data(ctx.get(), state.data(), state.size(), 0));
  prefix_cache->insert(key, std::move(state));
  return evaluate(rest);
}

void LlamaBackend::set_prefix_cache(std::shared_ptr<PrefixCache> cache, std::string key) {
  impl_->prefix_cache = std::move(cache);
  impl_->prefix_cache_key = std::move(key);
}

TrainingTokens LlamaBackend::training_tokens(const std::vector<ChatMessage>& messages) const {
  if (messages.size() < 2 || messages.back().role != Role::kAssistant) {
    throw_invalid_argument("a training example must end with the assistant's message (got " +
                           std::to_string(messages.size()) + " messages)");
  }
  const std::vector<ChatMessage> prompt_messages(messages.begin(), messages.end() - 1);
  const std::string prompt = impl_->render(prompt_messages, /*add_assistant=*/true);
  const std::string whole = impl_->render(messages, /*add_assistant=*/false);
  if (!whole.starts_with(prompt)) {
    throw_invalid_argument(impl_->info.path.string() +
                           ": its chat template does not render the prompt as the start of the "
                           "whole conversation, so the reply cannot be trained on alone");
  }
  // The reply is tokenized apart from its prompt, so no token straddles the boundary.
  TrainingTokens out;
  out.tokens = impl_->tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);
  out.target.assign(out.tokens.size(), 0);
  const std::vector<llama_token> reply = impl_->tokenize(
      std::string_view(whole).substr(prompt.size()), /*add_special=*/false, /*parse_special=*/true);
  out.tokens.insert(out.tokens.end(), reply.begin(), reply.end());
  out.target.resize(out.tokens.size(), 1);
  return out;
}

std::vector<float> LlamaBackend::sequence_logits(const std::vector<int32_t>& tokens,
                                                 const std::vector<LoraAdapter>& adapters) {
  impl_->require_context();
  const auto n = static_cast<int32_t>(tokens.size());
  if (n < 1 || n > static_cast<int32_t>(llama_n_batch(impl_->ctx.get())) ||
      n > static_cast<int32_t>(llama_n_ctx(impl_->ctx.get()))) {
    throw_invalid_argument("sequence_logits: " + std::to_string(n) +
                           " tokens: must be 1 .. the batch size " +
                           std::to_string(llama_n_batch(impl_->ctx.get())));
  }
  impl_->apply_adapters(adapters);
  const int32_t rc = impl_->decode_sequence(tokens);
  if (rc != 0)
    throw Error(ErrorCode::kInternal, "llama_decode failed with code " + std::to_string(rc));
  const auto n_vocab = static_cast<size_t>(vocab_size());
  std::vector<float> out(n_vocab * static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    const float* row = llama_get_logits_ith(impl_->ctx.get(), i);
    std::copy_n(row, n_vocab, out.data() + static_cast<size_t>(i) * n_vocab);
  }
  return out;
}

int32_t LlamaBackend::vocab_size() const {
  return llama_vocab_n_tokens(impl_->vocab);
}

ChatResult LlamaBackend::chat(const ChatRequest& request) {
  impl_->require_context();
  if (impl_->params.purpose == ModelPurpose::kEmbed) {
    throw Error(ErrorCode::kFailedPrecondition,
                impl_->info.path.string() + ": loaded for embeddings, not for chat");
  }
  if (request.messages.empty()) throw_invalid_argument("chat: the conversation is empty");
  if (request.max_tokens < 1) throw_invalid_argument("max_tokens must be >= 1");
  validate_sampling(request.sampling);

  std::vector<ChatMessage> messages = request.messages;
  std::vector<llama_token> prompt = impl_->fit_to_context(messages, request.max_tokens);
  const auto n_ctx = static_cast<int32_t>(llama_n_ctx(impl_->ctx.get()));
  const auto n_prompt = static_cast<int32_t>(prompt.size());

  impl_->apply_adapters(request.adapters);
  // Built before any evaluation, so a bad schema costs no inference.
  Sampling sampler = impl_->make_sampler(request);
  ChatResult result;
  result.timings.n_prompt_tokens = n_prompt;
  impl_->active_cancel = request.cancel;
  const auto start = std::chrono::steady_clock::now();
  const bool evaluated = impl_->evaluate_prompt(messages, prompt, result.timings.n_cached_tokens);
  result.timings.prompt_ms = elapsed_ms(start);
  if (!evaluated) {
    result.stop_reason = StopReason::kCancelled;
  } else {
    impl_->generate(request, sampler, std::min(request.max_tokens, n_ctx - n_prompt), result);
  }
  impl_->active_cancel = {};
  return result;
}

int32_t LlamaBackend::Impl::decode_sequence(std::span<const llama_token> tokens) {
  const auto n = static_cast<int32_t>(tokens.size());
  llama_memory_clear(llama_get_memory(ctx.get()), true);
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int32_t i = 0; i < n; ++i) {
    batch.token[i] = tokens[static_cast<size_t>(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = n;
  const int32_t rc = llama_decode(ctx.get(), batch);
  llama_batch_free(batch);
  return rc;
}

void LlamaBackend::Impl::require_context() const {
  if (!ctx) {
    throw Error(ErrorCode::kFailedPrecondition, info.path.string() + ": loaded without a context");
  }
}

// The pooled embedding of one window of tokens (at most a context's worth), not normalised.
std::vector<float> LlamaBackend::Impl::embed_window(std::span<const llama_token> tokens) {
  const int32_t rc = decode_sequence(tokens);
  if (rc == 2) throw Error(ErrorCode::kCancelled, "embedding was cancelled");
  if (rc != 0)
    throw Error(ErrorCode::kInternal, "embedding decode failed with code " + std::to_string(rc));
  const float* pooled = llama_get_embeddings_seq(ctx.get(), 0);
  if (pooled == nullptr)
    throw Error(ErrorCode::kInternal, "llama.cpp returned no pooled embedding");
  return std::vector<float>(pooled, pooled + llama_model_n_embd(model.get()));
}

std::vector<float> LlamaBackend::embed(std::string_view text) {
  impl_->require_context();
  if (impl_->params.purpose != ModelPurpose::kEmbed) {
    throw Error(ErrorCode::kFailedPrecondition,
                impl_->info.path.string() + ": loaded for chat; load it for embeddings");
  }
  const std::vector<llama_token> content = impl_->tokenize(text, /*add_special=*/false, false);
  if (content.empty()) throw_invalid_argument("embed: the text is empty");
  // The special tokens the model wants around a text (BERT's [CLS] … [SEP], llama's BOS).
  std::vector<llama_token> head;
  std::vector<llama_token> tail;
  const llama_vocab* vocab = impl_->vocab;
  if (llama_vocab_get_add_bos(vocab) && llama_vocab_bos(vocab) != LLAMA_TOKEN_NULL) {
    head.push_back(llama_vocab_bos(vocab));
  }
  if (llama_vocab_get_add_eos(vocab) && llama_vocab_eos(vocab) != LLAMA_TOKEN_NULL) {
    tail.push_back(llama_vocab_eos(vocab));
  }
  // A text longer than the context is embedded in context-sized windows, each with the model's
  // special tokens, and its embedding is the mean of theirs weighted by their tokens
  // (docs/formats/workflow.md, "Long material").
  // A pooled embedding comes from one batch: the window is the smallest of the context, the
  // batch and the micro-batch (llama.cpp may round the context up past the batch).
  const auto n_ctx =
      static_cast<size_t>(std::min({llama_n_ctx(impl_->ctx.get()), llama_n_batch(impl_->ctx.get()),
                                    llama_n_ubatch(impl_->ctx.get())}));
  const size_t window =
      n_ctx > head.size() + tail.size() + 1 ? n_ctx - head.size() - tail.size() : n_ctx;
  std::vector<double> sum(static_cast<size_t>(embedding_size()), 0.0);
  std::vector<llama_token> tokens;
  for (size_t start = 0; start < content.size(); start += window) {
    const size_t n = std::min(window, content.size() - start);
    tokens = head;
    tokens.insert(tokens.end(), content.begin() + static_cast<std::ptrdiff_t>(start),
                  content.begin() + static_cast<std::ptrdiff_t>(start + n));
    tokens.insert(tokens.end(), tail.begin(), tail.end());
    if (tokens.size() > n_ctx) tokens.resize(n_ctx);
    const std::vector<float> part = impl_->embed_window(tokens);
    for (size_t i = 0; i < sum.size(); ++i) {
      sum[i] += static_cast<double>(part[i]) * static_cast<double>(n);
    }
  }
  double norm = 0;
  for (const double v : sum) norm += v * v;
  norm = std::sqrt(norm);
  std::vector<float> embedding(sum.size());
  for (size_t i = 0; i < sum.size(); ++i) {
    embedding[i] = static_cast<float>(norm > 0 ? sum[i] / norm : sum[i]);
  }
  return embedding;
}

int32_t LlamaBackend::embedding_size() const {
  return llama_model_n_embd(impl_->model.get());
}

int32_t LlamaBackend::count_tokens(std::string_view text) const {
  return static_cast<int32_t>(impl_->tokenize(text, false, false).size());
}

int32_t LlamaBackend::context_size() const {
  return impl_->ctx ? static_cast<int32_t>(llama_n_ctx(impl_->ctx.get())) : 0;
}

const GgufInfo& LlamaBackend::info() const {
  return impl_->info;
}
double LlamaBackend::load_ms() const {
  return impl_->load_ms;
}
uint64_t LlamaBackend::allocated_bytes() const {
  return impl_->allocated_bytes;
}
int32_t LlamaBackend::threads() const {
  return impl_->n_threads;
}

std::string llama_system_info() {
  ensure_llama_initialized();
  return llama_print_system_info();
}

bool llama_gpu_offload_supported() {
  ensure_llama_initialized();
  return llama_supports_gpu_offload();
}

}  // namespace a4ps::llm
