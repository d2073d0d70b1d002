#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "core/toml_field.h"

namespace a4ps {
namespace {

constexpr int64_t kNoMax = kNoUpperLimit;

// One documented key of config.toml: how to read it into a Config and how to write it back.
struct KeySpec {
  std::string_view section;
  std::string_view key;
  std::string_view doc;
  std::function<void(Config&, const toml::node&, const TomlField&)> load;
  std::function<std::string(const Config&)> render;
};

template <class Section>
using SectionPtr = Section Config::*;

template <class Section>
KeySpec integer_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                    int64_t Section::*field, int64_t min, int64_t max, std::string_view doc) {
  return {section, key, doc,
          [=](Config& c, const toml::node& n, const TomlField& f) {
            (c.*sec).*field = f.integer(n, min, max);
          },
          [=](const Config& c) { return std::to_string((c.*sec).*field); }};
}

template <class Section>
KeySpec number_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                   double Section::*field, double min, double max, std::string_view doc) {
  return {section, key, doc,
          [=](Config& c, const toml::node& n, const TomlField& f) {
            (c.*sec).*field = f.number(n, min, max);
          },
          [=](const Config& c) { return format_toml_float((c.*sec).*field); }};
}

template <class Section>
KeySpec bool_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                 bool Section::*field, std::string_view doc) {
  return {
      section, key, doc,
      [=](Config& c, const toml::node& n, const TomlField& f) { (c.*sec).*field = f.boolean(n); },
      [=](const Config& c) { return std::string((c.*sec).*field ? "true" : "false"); }};
}

// A string; when `choices` is not empty, one of them.
template <class Section>
KeySpec string_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                   std::string Section::*field, std::vector<std::string> choices,
                   std::string_view doc) {
  return {section, key, doc,
          [=](Config& c, const toml::node& n, const TomlField& f) {
            (c.*sec).*field = f.string(n, choices);
          },
          [=](const Config& c) { return quote_string((c.*sec).*field); }};
}

// Secrets never reach a terminal or a log through `config show`.
std::string redact(const std::string& secret) {
  return secret.empty() ? "" : "<redacted>";
}

// A string that is a credential: read like any string, rendered redacted.
template <class Section>
KeySpec secret_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                   std::string Section::*field, std::string_view doc) {
  KeySpec spec = string_key(section, key, sec, field, {}, doc);
  spec.render = [=](const Config& c) { return quote_string(redact((c.*sec).*field)); };
  return spec;
}

template <class Section>
KeySpec string_array_key(std::string_view section, std::string_view key, SectionPtr<Section> sec,
                         std::vector<std::string> Section::*field, std::string_view doc) {
  return {section, key, doc,
          [=](Config& c, const toml::node& n, const TomlField& f) {
            (c.*sec).*field = f.string_array(n);
          },
          [=](const Config& c) {
            std::string out = "[";
            const auto& values = (c.*sec).*field;
            for (size_t i = 0; i < values.size(); ++i) {
              out += (i == 0 ? "" : ", ") + quote_string(values[i]);
            }
            return out + "]";
          }};
}

struct SectionDoc {
  std::string_view name;
  std::string_view doc;
};

const std::vector<SectionDoc>& section_docs() {
  static const std::vector<SectionDoc> docs = {
      {"models",
       "Model references by name. A reference is a path to a local GGUF file (\"gguf:PATH\" or a\n"
       "bare path), \"ollama:NAME\" (Ollama) or \"openai:NAME@URL\" (an OpenAI-compatible\n"
       "server). The blueprint's Ollama names are the defaults. Names beyond these five may be\n"
       "added and referred to from the persona codex."},
      {"inference", "How the embedded llama.cpp runs a local model."},
      {"budget", "The memory budget the ModelManager keeps all resident models within."},
      {"memory", "Episodic memory (kept in the image's state.db)."},
      {"graph", "The graph engine: how runs are checkpointed into the image's state.db."},
      {"motivator", "Cognitive dissonance and the autonomous drive."},
      {"socratic", "Limits of the BRICK/ROBIN Tree-of-Thoughts dialogue."},
      {"tools",
       "The Tool Forge and BABS's external access. [tools.api_keys] holds any NAME = \"KEY\"."},
      {"sandbox", "Limits for every tool run; tools always run inside the sandbox."},
      {"server", "`a4ps serve`. Bound to anything but loopback it requires a token."},
      {"evolve", "The strategic loop: the Oracle, golden datasets and fine-tuning."},
  };
  return docs;
}

const std::vector<KeySpec>& key_specs() {
  using C = Config;
  static const std::vector<KeySpec> specs = {
      integer_key("inference", "context_size", &C::inference, &InferenceConfig::context_size, 64,
                  1 << 24, "Tokens per context (prompt + answer)."),
      integer_key("inference", "batch_size", &C::inference, &InferenceConfig::batch_size, 1,
                  1 << 16, "Tokens per prompt-evaluation batch."),
      integer_key("inference", "threads", &C::inference, &InferenceConfig::threads, 0, 1024,
                  "CPU threads; 0 lets llama.cpp choose."),
      integer_key("inference", "gpu_layers", &C::inference, &InferenceConfig::gpu_layers, -1,
                  100000, "Layers offloaded to a GPU (needs a CUDA build); -1 offloads all."),
      bool_key("inference", "mmap", &C::inference, &InferenceConfig::mmap,
               "Map GGUF files into memory instead of reading them."),
      integer_key("inference", "call_timeout_seconds", &C::inference,
                  &InferenceConfig::call_timeout_seconds, 0, kNoMax,
                  "Each model call's deadline once it runs (not counting its wait in the\n"
                  "queue or a model load); a call still running then fails that turn. 0: none."),
      integer_key("budget", "memory_mb", &C::budget, &BudgetConfig::memory_mb, 1, kNoMax,
                  "Memory all resident models may use together, in MiB."),
      string_key("budget", "policy", &C::budget, &BudgetConfig::policy, {"fit", "sequential"},
                 "\"fit\" keeps models resident while they fit and evicts the least recently\n"
                 "used; \"sequential\" unloads after every call (the blueprint's keep_alive 0)."),
      integer_key("budget", "keep_alive_seconds", &C::budget, &BudgetConfig::keep_alive_seconds, 0,
                  kNoMax, "Unload a model idle this long; 0 keeps it until evicted."),
      integer_key("budget", "prefix_cache_mb", &C::budget, &BudgetConfig::prefix_cache_mb, 0,
                  kNoMax, "RAM for persona prefix-cache states (KV after each system prompt)."),
      string_key("budget", "prefix_cache_dir", &C::budget, &BudgetConfig::prefix_cache_dir, {},
                 "Also keep prefix-cache states in this folder, so the next process restores\n"
                 "them; empty: RAM only. Not bounded: states can be large."),
      string_key("memory", "db_path", &C::memory, &MemoryConfig::db_path, {},
                 "The SQLite file of memories, relative to the image."),
      string_key("memory", "table_name", &C::memory, &MemoryConfig::table_name, {},
                 "The memory collection's name (the blueprint's LanceDB table)."),
      string_key("memory", "index", &C::memory, &MemoryConfig::index,
                 {"auto", "flat", "hnsw", "ivf_pq"},
                 "Vector index: \"flat\" (exact), \"hnsw\", \"ivf_pq\" (smallest), or \"auto\"\n"
                 "(flat up to flat_max memories, then hnsw)."),
      integer_key("memory", "flat_max", &C::memory, &MemoryConfig::flat_max, 0, kNoMax,
                  "With index = \"auto\": the exact index serves up to this many memories."),
      integer_key("memory", "hnsw_m", &C::memory, &MemoryConfig::hnsw_m, 2, 256,
                  "HNSW graph degree (more: better recall, more RAM)."),
      integer_key("memory", "hnsw_ef_construction", &C::memory, &MemoryConfig::hnsw_ef_construction,
                  1, 100000, "HNSW build-time beam width."),
      integer_key("memory", "hnsw_ef_search", &C::memory, &MemoryConfig::hnsw_ef_search, 1, 100000,
                  "HNSW query-time beam width (more: better recall, slower)."),
      integer_key("memory", "ivf_nlist", &C::memory, &MemoryConfig::ivf_nlist, 0, 1000000,
                  "IVF-PQ inverted lists; 0 picks about sqrt(memories)."),
      integer_key("memory", "ivf_nprobe", &C::memory, &MemoryConfig::ivf_nprobe, 1, 1000000,
                  "IVF-PQ lists searched per query (more: better recall, slower)."),
      integer_key("memory", "pq_m", &C::memory, &MemoryConfig::pq_m, 0, 4096,
                  "IVF-PQ bytes per vector; must divide the dimension; 0: dimension / 16."),
      string_key("memory", "embedder", &C::memory, &MemoryConfig::embedder,
                 {"auto", "model", "lexical"},
                 "\"auto\": [models] embedding when it is a local GGUF file, else the\n"
                 "built-in lexical embedder (matches words, not meaning; needs no model);\n"
                 "\"model\": always [models] embedding (e.g. on Ollama); \"lexical\": always\n"
                 "the built-in one."),
      string_key("graph", "durability", &C::graph, &GraphConfig::durability, {"normal", "sync"},
                 "\"normal\": every step survives a crash of the process (WAL); \"sync\":\n"
                 "every step is also fsynced, surviving power loss, at a cost per step."),
      integer_key("graph", "max_steps", &C::graph, &GraphConfig::max_steps, 1, 1000000,
                  "Super-steps a run may take before it stops (resumable)."),
      string_key("graph", "busy", &C::graph, &GraphConfig::busy, {"refuse", "queue"},
                 "A second run on a thread that is running: refuse it, or queue it."),
      integer_key("graph", "queue_timeout_seconds", &C::graph, &GraphConfig::queue_timeout_seconds,
                  0, kNoMax, "How long a queued run waits for its thread."),
      number_key("motivator", "dissonance_threshold", &C::motivator,
                 &MotivatorConfig::dissonance_threshold, 0.0, 1.0,
                 "Dissonance above this publishes COGNITIVE_DISSONANCE."),
      integer_key("motivator", "curiosity_interval_seconds", &C::motivator,
                  &MotivatorConfig::curiosity_interval_seconds, 1, kNoMax,
                  "How often curiosity proposes a self-reflection goal."),
      number_key("motivator", "dissonance_embedding_weight", &C::motivator,
                 &MotivatorConfig::dissonance_embedding_weight, 0.0, 1.0,
                 "Weight of the embedding distance of BRICK's and ROBIN's positions."),
      number_key("motivator", "dissonance_judge_weight", &C::motivator,
                 &MotivatorConfig::dissonance_judge_weight, 0.0, 1.0,
                 "Weight of ALFRED's judged conflict score."),
      bool_key("motivator", "autonomous", &C::motivator, &MotivatorConfig::autonomous,
               "Run queued goals by itself when the system is idle (within the limits below)."),
      integer_key("motivator", "idle_seconds", &C::motivator, &MotivatorConfig::idle_seconds, 0,
                  kNoMax, "No user request and no user run for this long before a goal starts."),
      integer_key("motivator", "max_goals_per_hour", &C::motivator,
                  &MotivatorConfig::max_goals_per_hour, 0, kNoMax,
                  "Goals that may start in any hour; 0: none."),
      integer_key("motivator", "max_autonomous_runs_per_day", &C::motivator,
                  &MotivatorConfig::max_autonomous_runs_per_day, 0, kNoMax,
                  "Goal runs that may start in any 24 hours; 0: none."),
      integer_key("motivator", "max_chain_depth", &C::motivator, &MotivatorConfig::max_chain_depth,
                  0, 100,
                  "A goal born of a goal's run is one deeper; deeper than this it is recorded\n"
                  "as expired and never queued. 0: only goals of user runs and the timer."),
      integer_key("motivator", "goal_budget_tokens", &C::motivator,
                  &MotivatorConfig::goal_budget_tokens, 1, kNoMax,
                  "The token budget of each new goal: its run stops (resumable) and the goal\n"
                  "fails once the run's model calls have used more."),
      integer_key(
          "motivator", "goal_deadline_seconds", &C::motivator,
          &MotivatorConfig::goal_deadline_seconds, 1, kNoMax,
          "A goal's run still going after this long is stopped and the goal fails; the run\n"
          "stays resumable with a4ps resume."),
      integer_key("motivator", "reflection_episodes", &C::motivator,
                  &MotivatorConfig::reflection_episodes, 1, 100,
                  "Recent episodes a reflection goal looks at."),
      integer_key("socratic", "breadth", &C::socratic, &SocraticConfig::breadth, 1, 16,
                  "Candidate thoughts BRICK proposes at each depth."),
      integer_key("socratic", "beam", &C::socratic, &SocraticConfig::beam, 1, 16,
                  "Candidates kept after ROBIN's evaluation."),
      integer_key("socratic", "max_depth", &C::socratic, &SocraticConfig::max_depth, 1, 16,
                  "Depth of the thought tree."),
      integer_key("socratic", "max_turns", &C::socratic, &SocraticConfig::max_turns, 1, 64,
                  "Synthesis/antithesis turns after the tree search."),
      number_key("socratic", "prune_threshold", &C::socratic, &SocraticConfig::prune_threshold, 0.0,
                 1.0, "Candidates ROBIN scores below this are abandoned."),
      bool_key("tools", "forge", &C::tools, &ToolsConfig::forge,
               "BRICK may call tools and request new ones in runs (needs a sandbox)."),
      integer_key("tools", "max_attempts", &C::tools, &ToolsConfig::max_attempts, 1, 20,
                  "Attempts the forge makes before it gives up on a tool."),
      string_key("tools", "search_url", &C::tools, &ToolsConfig::search_url, {},
                 "A SearxNG-compatible JSON search endpoint for BABS; empty: none."),
      string_array_key("tools", "fetch_allowed_hosts", &C::tools, &ToolsConfig::fetch_allowed_hosts,
                       "Hosts BABS may fetch pages from."),
      string_key("sandbox", "runtime", &C::sandbox, &SandboxConfig::runtime,
                 {"auto", "runsc", "bwrap"}, "Sandbox runtime; auto prefers gVisor (runsc)."),
      integer_key("sandbox", "wall_ms", &C::sandbox, &SandboxConfig::wall_ms, 1, kNoMax,
                  "Wall-clock limit per run, in ms."),
      integer_key("sandbox", "cpu_ms", &C::sandbox, &SandboxConfig::cpu_ms, 1, kNoMax,
                  "CPU-time limit per run, in ms."),
      integer_key("sandbox", "memory_mb", &C::sandbox, &SandboxConfig::memory_mb, 1, kNoMax,
                  "Memory limit per run, in MiB."),
      integer_key("sandbox", "max_processes", &C::sandbox, &SandboxConfig::max_processes, 1, 4096,
                  "Processes and threads a run may have at once."),
      integer_key("sandbox", "max_output_bytes", &C::sandbox, &SandboxConfig::max_output_bytes, 1,
                  kNoMax, "Bytes of stdout and of stderr kept per run."),
      integer_key("sandbox", "tmp_size_mb", &C::sandbox, &SandboxConfig::tmp_size_mb, 1, kNoMax,
                  "Size of the run's private writable temp dir, in MiB."),
      string_key("server", "host", &C::server, &ServerConfig::host, {}, "Address to bind."),
      integer_key("server", "port", &C::server, &ServerConfig::port, 1, 65535, "Port to bind."),
      secret_key("server", "token", &C::server, &ServerConfig::token,
                 "Bearer token; required when host is not loopback."),
      string_array_key("server", "cors_origins", &C::server, &ServerConfig::cors_origins,
                       "Origins allowed by CORS; empty: CORS off."),
      integer_key("server", "max_body_bytes", &C::server, &ServerConfig::max_body_bytes, 1, kNoMax,
                  "Largest request body accepted."),
      number_key("evolve", "golden_threshold", &C::evolve, &EvolveConfig::golden_threshold, 0.0,
                 1.0, "Oracle score from which an episode is golden."),
      integer_key("evolve", "min_examples", &C::evolve, &EvolveConfig::min_examples, 1, kNoMax,
                  "Golden examples a persona needs before a fine-tune."),
      number_key("evolve", "held_out_fraction", &C::evolve, &EvolveConfig::held_out_fraction, 0.0,
                 0.9, "Share of golden examples held out to judge a candidate."),
      string_key("evolve", "trainer_command", &C::evolve, &EvolveConfig::trainer_command, {},
                 "External trainer producing a LoRA adapter (run with /bin/sh -c; see\n"
                 "docs/formats/evolve.md for what it receives); empty: A4PS's own trainer."),
      integer_key("evolve", "trainer_timeout_seconds", &C::evolve,
                  &EvolveConfig::trainer_timeout_seconds, 1, kNoMax,
                  "An external trainer still running after this long is stopped."),
      string_key(
          "evolve", "second_judge", &C::evolve, &EvolveConfig::second_judge, {},
          "The persona that judges ALFRED's turns beside ALFRED (none judges itself alone)."),
      bool_key("evolve", "require_evidence", &C::evolve, &EvolveConfig::require_evidence,
               "A criterion scored at least half must quote the judged turns, else the\n"
               "judgement is uncertain (never golden)."),
      number_key("evolve", "min_improvement", &C::evolve, &EvolveConfig::min_improvement, 0.0, 10.0,
                 "A candidate is adopted only if the lower end of the 95% interval of its\n"
                 "held-out loss improvement reaches this (nats per assistant token)."),
      integer_key("evolve", "bootstrap_samples", &C::evolve, &EvolveConfig::bootstrap_samples, 100,
                  1000000, "Resamples of the paired bootstrap behind that interval."),
      integer_key("evolve", "lora_rank", &C::evolve, &EvolveConfig::lora_rank, 1, 1024,
                  "Rank of the LoRA adapters the trainer makes."),
      number_key("evolve", "lora_alpha", &C::evolve, &EvolveConfig::lora_alpha, 0.001, 100000.0,
                 "LoRA alpha: the adapter is applied at alpha / rank."),
      string_array_key("evolve", "lora_targets", &C::evolve, &EvolveConfig::lora_targets,
                       "Weights adapted: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up,\n"
                       "ffn_down (or attention, ffn, all)."),
      integer_key("evolve", "epochs", &C::evolve, &EvolveConfig::epochs, 1, 10000,
                  "Passes over a dataset's training split."),
      number_key("evolve", "learning_rate", &C::evolve, &EvolveConfig::learning_rate, 1e-7, 0.5,
                 "AdamW learning rate."),
      integer_key("evolve", "seed", &C::evolve, &EvolveConfig::seed, 0, kNoMax,
                  "Seed of a new adapter's initial weights and of the example order."),
      integer_key("evolve", "max_tokens", &C::evolve, &EvolveConfig::max_tokens, 2, 65536,
                  "Longest example trained on, in tokens; longer ones are left out and counted."),
  };
  return specs;
}

std::string unknown_key_message(std::string_view source, std::string_view section,
                                std::string_view key, const std::vector<std::string>& known) {
  std::string message = std::string(source) + ": unknown key [" + std::string(section) + "] " +
                        std::string(key) + " (ignored)";
  const std::string suggestion = closest_match(key, known);
  if (!suggestion.empty()) message += "; did you mean " + suggestion + "?";
  return message;
}

// A table of free-form names whose values must be non-empty strings.
void load_string_map(const toml::table& table, std::string_view source, std::string_view section,
                     std::map<std::string, std::string>& out) {
  for (auto&& [name, value] : table) {
    out[std::string(name.str())] = TomlField{source, section, name.str()}.non_empty_string(value);
  }
}

// A table of free-form names under a section, e.g. [tools.api_keys].
struct SubtableSpec {
  std::string_view section;
  std::string_view key;
  std::string_view doc;
  std::function<void(Config&, const toml::table&, std::string_view source)> load;
  std::function<std::string(const Config&)> render;
};

const std::vector<SubtableSpec>& subtable_specs() {
  static const std::vector<SubtableSpec> specs = {
      {"budget", "keep_alive_by_model",
       "NAME = SECONDS: a model of [models] kept this long when idle, instead of "
       "keep_alive_seconds.",
       [](Config& c, const toml::table& t, std::string_view source) {
         for (auto&& [name, value] : t) {
           const TomlField f{source, "budget.keep_alive_by_model", name.str()};
           c.budget.keep_alive_by_model[std::string(name.str())] =
               f.integer(value, 0, kNoUpperLimit);
         }
       },
       [](const Config& c) {
         std::string out;
         for (const auto& [name, seconds] : c.budget.keep_alive_by_model) {
           out += name + " = " + std::to_string(seconds) + "\n";
         }
         return out;
       }},
      {"tools", "api_keys", "NAME = \"KEY\": keys for BABS's external services.",
       [](Config& c, const toml::table& t, std::string_view source) {
         load_string_map(t, source, "tools.api_keys", c.tools.api_keys);
       },
       [](const Config& c) {
         std::string out;
         for (const auto& [name, key] : c.tools.api_keys) {
           out += name + " = " + quote_string(redact(key)) + "\n";
         }
         return out;
       }},
  };
  return specs;
}

void load_section(Config& config, std::string_view source, std::string_view section,
                  const toml::table& table) {
  std::vector<std::string> known;
  for (const KeySpec& spec : key_specs()) {
    if (spec.section == section) known.emplace_back(spec.key);
  }
  for (const SubtableSpec& sub : subtable_specs()) {
    if (sub.section == section) known.emplace_back(sub.key);
  }
  for (auto&& [key, value] : table) {
    const auto sub = std::find_if(
        subtable_specs().begin(), subtable_specs().end(),
        [&](const SubtableSpec& t) { return t.section == section && t.key == key.str(); });
    if (sub != subtable_specs().end()) {
      if (!value.is_table()) TomlField{source, section, key.str()}.reject(value, "a table");
      sub->load(config, *value.as_table(), source);
      continue;
    }
    const auto spec = std::find_if(key_specs().begin(), key_specs().end(), [&](const KeySpec& s) {
      return s.section == section && s.key == key.str();
    });
    if (spec == key_specs().end()) {
      config.warnings.push_back(unknown_key_message(source, section, key.str(), known));
      continue;
    }
    spec->load(config, value, TomlField{source, section, key.str()});
  }
}

}  // namespace

Config Config::defaults() {
  Config config;
  config.models.refs = {{"babs", "mistral:7b-instruct"},
                        {"brick", "phi3:mini-4k-instruct"},
                        {"robin", "llama3.1:8b-instruct"},
                        {"alfred", "gemma2:9b-instruct"},
                        {"embedding", "nomic-embed-text"}};
  return config;
}

Config Config::load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_not_found(path.string() + ": no such configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path.string());
}

Config Config::load_string(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw_invalid_argument(std::string(source_name) + ":" + std::to_string(e.source().begin.line) +
                           ":" + std::to_string(e.source().begin.column) +
                           ": TOML syntax error: " + std::string(e.description()));
  }
  Config config = defaults();
  config.source = std::string(source_name);
  std::vector<std::string> known_sections;
  for (const SectionDoc& s : section_docs()) known_sections.emplace_back(s.name);

  for (auto&& [name, node] : root) {
    const std::string section(name.str());
    const bool known =
        std::find(known_sections.begin(), known_sections.end(), section) != known_sections.end();
    if (!known) {
      std::string message = config.source + ": unknown section [" + section + "] (ignored)";
      const std::string suggestion = closest_match(section, known_sections);
      if (!suggestion.empty()) message += "; did you mean [" + suggestion + "]?";
      config.warnings.push_back(std::move(message));
      continue;
    }
    if (!node.is_table()) {
      TomlField{config.source, section, "(section)"}.reject(node, "a table: [" + section + "]");
    }
    if (section == "models") {
      load_string_map(*node.as_table(), config.source, "models", config.models.refs);
    } else {
      load_section(config, config.source, section, *node.as_table());
    }
  }
  return config;
}

namespace {

enum class Comments { kWith, kWithout };

std::string render(const Config& config, Comments comments) {
  const bool with_docs = comments == Comments::kWith;
  std::string out;
  if (with_docs) {
    out += "# A4PS configuration: every key with its default value.\n";
    out += "# Unknown keys are reported; a wrong value is an error naming key, value and range.\n";
  }
  for (const SectionDoc& section : section_docs()) {
    out += "\n";
    if (with_docs) {
      std::istringstream lines{std::string(section.doc)};
      for (std::string line; std::getline(lines, line);) out += "# " + line + "\n";
    }
    out += "[" + std::string(section.name) + "]\n";
    if (section.name == "models") {
      for (const auto& [name, ref] : config.models.refs) {
        out += name + " = " + quote_string(ref) + "\n";
      }
      continue;
    }
    for (const KeySpec& spec : key_specs()) {
      if (spec.section != section.name) continue;
      if (with_docs) {
        std::istringstream lines{std::string(spec.doc)};
        for (std::string line; std::getline(lines, line);) out += "# " + line + "\n";
      }
      out += std::string(spec.key) + " = " + spec.render(config) + "\n";
    }
    for (const SubtableSpec& sub : subtable_specs()) {
      if (sub.section != section.name) continue;
      out += "\n";
      if (with_docs) out += "# " + std::string(sub.doc) + "\n";
      out +=
          "[" + std::string(sub.section) + "." + std::string(sub.key) + "]\n" + sub.render(config);
    }
  }
  return out;
}

}  // namespace

std::string render_default_config() {
  return render(Config::defaults(), Comments::kWith);
}

std::string render_config(const Config& config) {
  return render(config, Comments::kWithout);
}

}  // namespace a4ps
