// core/config: config.toml, the user's configuration. Every key has a default (see
// `a4ps config defaults` and docs/config.md); unknown keys are reported as warnings, never
// silently ignored; a wrong type or value is an a4ps::Error naming the file, the key, the value
// and what is allowed. The blueprint's sections and keys ([models], [memory], [motivator],
// [tools]) keep their names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace a4ps {

// The model each persona and the embedder use, by name. Values are model references: a path to
// a local GGUF file (`gguf:PATH` or a bare path) or, once those backends exist, `ollama:NAME` /
// `openai:NAME@URL`. Names beyond the five below are allowed, so a codex can refer to them.
struct ModelsConfig {
  std::map<std::string, std::string> refs;
};

// How the embedded llama.cpp runs a model.
struct InferenceConfig {
  int64_t context_size = 4096;  // tokens per context
  int64_t batch_size = 512;     // tokens per prompt-evaluation batch
  int64_t threads = 0;          // 0: the physical cores (llama.cpp's common_cpu_get_num_math)
  int64_t gpu_layers = 0;       // layers offloaded to a GPU; -1 offloads all
  bool mmap = true;             // map the GGUF file instead of reading it
  // Every model call's deadline once it runs (llama-server's --timeout is 600 s too).
  int64_t call_timeout_seconds = 600;
};

struct BudgetConfig {
  int64_t memory_mb = 8192;  // the blueprint's 8 GB laptop
  std::string policy = "fit";
  int64_t keep_alive_seconds = 300;
  int64_t prefix_cache_mb = 256;
  std::string prefix_cache_dir;
  // Per model name, overriding keep_alive_seconds ([budget.keep_alive_by_model]).
  std::map<std::string, int64_t> keep_alive_by_model;
};

struct MemoryConfig {
  std::string db_path = "state.db";
  std::string table_name = "a4ps_scrapbook";
  std::string index = "auto";
  // "auto": [models] embedding if it is a local GGUF, else "lexical" (the built-in one);
  // "model": [models] embedding wherever it is served.
  std::string embedder = "auto";
  // The vector index's parameters (memory/vector_index.h has their meaning).
  int64_t flat_max = 200000;
  int64_t hnsw_m = 16;
  int64_t hnsw_ef_construction = 200;
  int64_t hnsw_ef_search = 128;
  int64_t ivf_nlist = 0;
  int64_t ivf_nprobe = 32;
  int64_t pq_m = 0;
};

// The graph engine's checkpointing and runs.
struct GraphConfig {
  std::string durability = "normal";  // "normal" (survives a crash) or "sync" (fsync per step)
  int64_t max_steps = 100;            // super-steps per run
  std::string busy = "refuse";        // a second run on a busy thread: "refuse" or "queue"
  int64_t queue_timeout_seconds = 60;
};

// Dissonance, the Motivator's goals and the bounds of the autonomous loop (docs/config.md).
struct MotivatorConfig {
  double dissonance_threshold = 0.8;
  int64_t curiosity_interval_seconds = 3600;
  double dissonance_embedding_weight = 0.5;
  double dissonance_judge_weight = 0.5;
  bool autonomous = false;                   // whether the loop runs goals by itself at all
  int64_t idle_seconds = 300;                // no user request or run for this long first
  int64_t max_goals_per_hour = 4;            // goals started in any hour
  int64_t max_autonomous_runs_per_day = 24;  // goal runs started in any 24 hours
  int64_t max_chain_depth = 2;               // a deeper goal is recorded expired, never queued
  int64_t goal_budget_tokens = 100000;       // prompt + generated tokens of one goal's run
  int64_t goal_deadline_seconds = 1800;      // a goal's run is stopped after this long
  int64_t reflection_episodes = 5;           // episodes a reflection goal looks at
};

struct SocraticConfig {
  int64_t breadth = 3;
  int64_t beam = 2;
  int64_t max_depth = 2;
  int64_t max_turns = 2;
  double prune_threshold = 0.3;
};

struct ToolsConfig {
  bool forge = true;  // BRICK's tool step in runs
  int64_t max_attempts = 3;
  std::string search_url;
  std::vector<std::string> fetch_allowed_hosts;
  std::map<std::string, std::string> api_keys;
};

struct SandboxConfig {
  std::string runtime = "auto";
  int64_t wall_ms = 10000;
  int64_t cpu_ms = 5000;
  int64_t memory_mb = 512;
  int64_t max_processes = 32;
  int64_t max_output_bytes = 65536;
  int64_t tmp_size_mb = 64;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int64_t port = 8000;
  std::string token;
  std::vector<std::string> cors_origins;
  int64_t max_body_bytes = 1 << 20;
};

struct EvolveConfig {
  double golden_threshold = 0.8;
  int64_t min_examples = 20;
  double held_out_fraction = 0.2;
  std::string trainer_command;
  int64_t trainer_timeout_seconds = 3600;
  std::string second_judge = "robin";
  bool require_evidence = true;
  double min_improvement = 0.01;
  int64_t bootstrap_samples = 2000;
  int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  std::vector<std::string> lora_targets = {"attn_q", "attn_k", "attn_v", "attn_output"};
  int64_t epochs = 3;
  double learning_rate = 1e-3;
  int64_t seed = 1;
  int64_t max_tokens = 1024;
};

struct Config {
  ModelsConfig models;
  InferenceConfig inference;
  BudgetConfig budget;
  MemoryConfig memory;
  GraphConfig graph;
  MotivatorConfig motivator;
  SocraticConfig socratic;
  ToolsConfig tools;
  SandboxConfig sandbox;
  ServerConfig server;
  EvolveConfig evolve;

  // Where the values came from ("<defaults>" when no file was read).
  std::string source = "<defaults>";
  // Unknown sections and keys found while loading, one message each.
  std::vector<std::string> warnings;

  // The built-in defaults.
  static Config defaults();

  // Reads `path`, starting from the defaults. Throws a4ps::Error: kNotFound if the file does
  // not exist, kInvalidArgument for a TOML syntax error (with line and column) or a key whose
  // type or value is not allowed.
  static Config load_file(const std::filesystem::path& path);

  // Same, from text; `source_name` names it in messages.
  static Config load_string(std::string_view toml_text, std::string_view source_name);
};

// A commented config.toml with every key at its default value, as `a4ps config defaults`
// prints it. Loading it yields Config::defaults().
std::string render_default_config();

// The effective configuration as TOML (no comments).
std::string render_config(const Config& config);

}  // namespace a4ps
