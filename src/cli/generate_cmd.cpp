// a4ps generate: one prompt through one model, streamed.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_context.h"
#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/text.h"
#include "evolve/strategic_loop.h"
#include "llm/json_schema.h"
#include "llm/llama_backend.h"
#include "llm/ollama_backend.h"
#include "llm/openai_backend.h"
#include "llm/recording.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

struct GenerateOptions {
  std::string model_file;
  std::string persona;
  std::string prompt;
  std::string system;
  std::string schema_file;
  std::vector<std::string> stop;
  std::vector<std::string> lora;
  std::string record_file;
  std::string replay_file;
  std::optional<uint32_t> seed;
  std::optional<float> temperature;
  std::optional<int32_t> max_tokens;
  std::optional<uint32_t> n_ctx;
  bool json = false;
};

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_not_found(path + ": no such " + what + " file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// FILE or FILE:SCALE.
llm::LoraAdapter parse_lora_option(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos) return {spec, 1.0f};
  try {
    size_t used = 0;
    const float scale = std::stof(spec.substr(colon + 1), &used);
    if (used == spec.size() - colon - 1) return {spec.substr(0, colon), scale};
  } catch (const std::exception&) {
  }
  throw_invalid_argument("--lora " + spec +
                         ": expected FILE or FILE:SCALE (e.g. brick.lora.gguf:0.5)");
}

// Draws "loading NAME 42%" in place on a terminal, or start and end lines otherwise, as the
// ModelManager reports progress from its worker. Ctrl-C during a load stops it.
class LoadProgress {
 public:
  LoadProgress(std::string name, std::stop_source stop)
      : name_(std::move(name)), stop_(std::move(stop)), tty_(stderr_is_terminal()) {}
  void update(float progress) {
    if (g_interrupted.load()) stop_.request_stop();
    const int percent = static_cast<int>(progress * 100.0f);
    if (!started_ && !tty_) std::fprintf(stderr, "loading %s ...\n", name_.c_str());
    started_ = true;
    if (percent >= 100 && !done_) {
      if (tty_) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "loaded %s\n", name_.c_str());
      done_ = true;
    } else if (tty_ && percent != last_percent_ && percent < 100) {
      std::fprintf(stderr, "\rloading %s %3d%%", name_.c_str(), percent);
      last_percent_ = percent;
    }
  }

 private:
  std::string name_;
  std::stop_source stop_;
  bool tty_;
  bool started_ = false;
  bool done_ = false;
  int last_percent_ = -1;
};

// What one generation needs, resolved from the options, the config and the codex.
struct Generation {
  llm::ChatRequest request;
  llm::ModelRef model;    // what answers
  std::string model_key;  // names the model in recordings: the [models] name or the file
  std::string persona;    // the persona's name; empty with --model
  std::string label;      // what progress lines call the model: the persona or the file
  std::optional<llm::JsonSchema> schema;
};

Generation prepare_generation(const GlobalOptions& global, const GenerateOptions& o,
                              const Config& config) {
  Generation g;
  if (!o.persona.empty()) {
    const Codex codex = load_codex(global, config);
    const Persona& persona = codex.persona(o.persona);
    g.model = runtime::resolve_model(config, persona.model);
    g.model_key = persona.model;
    g.request.messages.push_back({llm::Role::kSystem, persona.full_system_prompt()});
    g.request.sampling = persona.sampling;
    g.request.max_tokens = persona.max_tokens;
    // As the persona speaks in runs: the image's adopted adapter, else the codex's own.
    std::error_code ec;
    const std::filesystem::path image = selected_image_dir(global);
    std::optional<llm::LoraAdapter> adapter = persona.adapter;
    if (std::filesystem::exists(image / "state.db", ec)) {
      if (auto adopted = evolve::StrategicLoop::adopted_adapter_in(image, persona.id))
        adapter = adopted;
    }
    if (adapter) g.request.adapters.push_back(*adapter);
    g.persona = persona.name;
    g.label = persona.name;
  } else {
    refuse_non_regular_file(o.model_file, o.model_file, "a GGUF model file");
    g.model = llm::ModelRef::parse("gguf:" + o.model_file, ".");
    g.model_key = o.model_file;
    g.label = g.model.path.filename().string();
  }
  if (!o.system.empty()) {
    g.request.messages.clear();
    g.request.messages.push_back({llm::Role::kSystem, o.system});
  }
  if (o.prompt.empty()) throw_invalid_argument("the prompt is empty");
  g.request.messages.push_back({llm::Role::kUser, o.prompt});
  if (o.seed) g.request.sampling.seed = *o.seed;
  if (o.temperature) g.request.sampling.temperature = *o.temperature;
  if (o.max_tokens) g.request.max_tokens = *o.max_tokens;
  g.request.stop = o.stop;
  for (const std::string& spec : o.lora) g.request.adapters.push_back(parse_lora_option(spec));
  if (!o.schema_file.empty()) {
    // Checked here, before the model loads, so a bad schema costs nothing.
    g.schema = llm::JsonSchema::parse(read_text_file(o.schema_file, "schema"), o.schema_file);
    g.request.json_schema = g.schema->document();
  }
  return g;
}

// A ModelManager with the one model this generation uses: loaded under the budget when local,
// served by Ollama or an OpenAI-compatible server, or replayed from a recording; every request
// recorded with --record.
std::unique_ptr<llm::ModelManager> open_manager(const Config& config, const GenerateOptions& o,
                                                const Generation& g, LoadProgress& progress) {
  llm::ModelManagerOptions options = runtime::model_manager_options(config);
  if (o.n_ctx) options.load_defaults.n_ctx = *o.n_ctx;
  options.record_path = o.record_file;
  options.on_load_progress = [&progress](const std::string&, float p) { progress.update(p); };
  auto manager = std::make_unique<llm::ModelManager>(options);
  if (!o.replay_file.empty()) {
    manager->register_remote(g.model_key,
                             std::make_unique<llm::ReplayBackend>(g.model_key, o.replay_file));
  } else {
    runtime::register_model_ref(*manager, config, g.model_key, g.model,
                                llm::ModelPurpose::kGenerate);
  }
  return manager;
}

// Empty when the output satisfies the schema (or there is none); else what is wrong.
std::string schema_problem(const Generation& g, const llm::ChatResult& result) {
  if (!g.schema) return {};
  const auto parsed = nlohmann::json::parse(result.text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return "the output is not complete JSON";
  std::string why;
  return g.schema->validate(parsed, &why) ? std::string() : why;
}

void print_json_result(const Generation& g, double load_ms, const llm::ChatResult& result,
                       bool schema_valid) {
  const llm::Timings& t = result.timings;
  nlohmann::json out = {{"model", g.model.text},
                        {"text", valid_utf8(result.text)},
                        {"stop_reason", llm::stop_reason_name(result.stop_reason)},
                        {"timings",
                         {{"load_ms", load_ms},
                          {"prompt_ms", t.prompt_ms},
                          {"decode_ms", t.decode_ms},
                          {"prompt_tokens", t.n_prompt_tokens},
                          {"generated_tokens", t.n_generated_tokens},
                          {"decode_tokens_per_second", t.decode_tokens_per_second()}}}};
  if (!g.persona.empty()) out["persona"] = g.persona;
  out["adapters"] = nlohmann::json::array();
  for (const llm::LoraAdapter& a : g.request.adapters) {
    out["adapters"].push_back({{"path", a.path}, {"scale", a.scale}});
  }
  if (g.schema) out["schema_valid"] = schema_valid;
  std::cout << out.dump(2) << "\n";
}

void run_generate(const GlobalOptions& global, const GenerateOptions& o) {
  const Config config = load_config(global);
  Generation g = prepare_generation(global, o, config);
  std::signal(SIGINT, on_sigint);
  std::stop_source stop;
  LoadProgress progress(g.label, stop);
  auto manager = open_manager(config, o, g, progress);
  g.request.cancel = stop.get_token();
  const bool stream = !o.json;
  // The persona's name goes before its first words, not before an error.
  bool named = g.persona.empty();
  g.request.on_token = [&](std::string_view piece) {
    if (stream) {
      if (!named) std::printf("%s: ", g.persona.c_str());
      named = true;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    if (g_interrupted.load()) stop.request_stop();
  };
  const llm::ChatResult result = manager->chat(g.model_key, g.request);
  std::signal(SIGINT, SIG_DFL);

  const std::string problem = schema_problem(g, result);
  if (o.json) {
    print_json_result(g, manager->stats().at(g.model_key).load_ms_total, result, problem.empty());
  } else {
    const llm::Timings& t = result.timings;
    std::printf("\n");
    std::fprintf(stderr, "[%d prompt tokens in %.0f ms; %d tokens at %.1f tokens/s; stopped: %s]\n",
                 t.n_prompt_tokens, t.prompt_ms, t.n_generated_tokens, t.decode_tokens_per_second(),
                 std::string(llm::stop_reason_name(result.stop_reason)).c_str());
  }
  if (!problem.empty()) {
    if (result.stop_reason == llm::StopReason::kMaxTokens) {
      throw Error(ErrorCode::kResourceExhausted,
                  "output stopped at the token limit before its JSON was complete; raise "
                  "--max-tokens or bound the schema (maxLength, maxItems)");
    }
    throw Error(ErrorCode::kInternal, "output does not satisfy the schema: " + problem);
  }
  if (result.stop_reason == llm::StopReason::kCancelled) {
    throw Error(ErrorCode::kCancelled, "generation interrupted");
  }
}

}  // namespace

void add_generate_command(CLI::App& app, const GlobalOptions& options) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Stream one model's answer to a prompt. With --persona the model, system prompt and "
      "sampling come from the codex and config.toml; with --model any GGUF file is used as is.");
  auto* model = cmd->add_option("--model", o->model_file, "GGUF file to run")->type_name("FILE");
  auto* persona =
      cmd->add_option("--persona", o->persona, "Persona to speak as: ALFRED, BABS, BRICK or ROBIN");
  model->excludes(persona);
  cmd->add_option("prompt", o->prompt, "The user's message")->required();
  cmd->add_option("--system", o->system, "System prompt (replaces the persona's)");
  cmd->add_option("--schema", o->schema_file,
                  "JSON schema file: the output is constrained to JSON valid against it")
      ->type_name("FILE");
  cmd->add_option("--seed", o->seed, "Sampling seed (same seed, same text)");
  cmd->add_option("--temperature", o->temperature, "0 for greedy decoding");
  cmd->add_option("--max-tokens", o->max_tokens, "Most tokens to generate");
  cmd->add_option("--stop", o->stop, "Stop before this text (repeatable)");
  cmd->add_option("--record", o->record_file,
                  "Append the request and response to this JSONL file (docs/formats/replay.md)")
      ->type_name("FILE");
  cmd->add_option("--replay", o->replay_file,
                  "Answer from a recording instead of a model; a request not recorded is an error")
      ->type_name("FILE");
  cmd->add_option("--lora", o->lora, "Apply a LoRA adapter, FILE or FILE:SCALE (repeatable)");
  cmd->add_option("--ctx", o->n_ctx, "Context size (default: [inference] context_size)");
  cmd->add_flag("--json", o->json, "Print one JSON result instead of streaming");
  cmd->callback([&options, o, model, persona] {
    if (model->count() == 0 && persona->count() == 0) {
      throw_invalid_argument("generate: give --model FILE or --persona NAME");
    }
    run_generate(options, *o);
  });
}

}  // namespace a4ps::cli
