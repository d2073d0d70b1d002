// a4ps models mktest | info
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "core/text.h"
#include "llm/gguf_info.h"
#include "llm/test_model.h"

namespace a4ps::cli {
namespace {

struct MktestOptions {
  std::string out;
  llm::TestModelSpec spec;
  std::string type = "f32";
  bool embedding = false;
  uint32_t lora_rank = 0;
};

void run_mktest(const GlobalOptions& global, MktestOptions& o) {
  apply_verbosity(global);
  o.spec.type = llm::parse_weight_type(o.type);
  if (o.lora_rank > 0) {
    llm::write_test_lora(o.spec, o.spec.seed, o.lora_rank, o.out);
    std::cerr << "wrote " << o.out << ": LoRA adapter of rank " << o.lora_rank
              << " for the model these options describe, seed " << o.spec.seed << "\n";
    return;
  }
  o.spec.purpose = o.embedding ? llm::ModelPurpose::kEmbed : llm::ModelPurpose::kGenerate;
  llm::write_test_model(o.spec, o.out);
  const llm::GgufInfo info = llm::inspect_gguf(o.out);
  std::cerr << "wrote " << o.out << ": " << info.n_params << " parameters, "
            << format_bytes(static_cast<double>(info.file_bytes)) << ", vocab " << o.spec.vocab
            << " (" << info.vocab_size << " tokens), seed " << o.spec.seed
            << (o.embedding ? ", embedding model (mean pooling)" : "") << "\n";
}

nlohmann::json info_json(const llm::GgufInfo& info, uint32_t n_ctx) {
  return {{"path", info.path.string()},
          {"architecture", info.architecture},
          {"name", info.name},
          {"file_type", info.file_type},
          {"parameters", info.n_params},
          {"file_bytes", info.file_bytes},
          {"weights_bytes", info.tensor_bytes},
          {"context_length", info.context_length},
          {"embedding_length", info.n_embd},
          {"layers", info.n_layer},
          {"heads", info.n_head},
          {"kv_heads", info.n_head_kv},
          {"feed_forward_length", info.n_ff},
          {"vocab_size", info.vocab_size},
          {"tokenizer", info.tokenizer_model},
          {"pooling_type", info.pooling_type},
          {"chat_template", info.chat_template},
          {"estimate",
           {{"context", n_ctx},
            {"kv_cache_bytes", info.kv_cache_bytes(n_ctx)},
            {"memory_bytes", info.estimate_memory_bytes(n_ctx)}}}};
}

void print_info(const llm::GgufInfo& info, uint32_t n_ctx) {
  const auto bytes = [](uint64_t b) { return format_bytes(static_cast<double>(b)); };
  std::cout << info.path.string() << "\n"
            << "  architecture    " << info.architecture
            << (info.name.empty() ? "" : "  (" + info.name + ")") << "\n"
            << "  parameters      " << info.n_params << "\n"
            << "  file            " << bytes(info.file_bytes)
            << (info.file_type.empty() ? "" : ", " + info.file_type) << "\n"
            << "  context length  " << info.context_length << " (trained)\n"
            << "  shape           " << info.n_layer << " layers, embedding " << info.n_embd << ", "
            << info.n_head << " heads (" << info.n_head_kv << " KV), feed-forward " << info.n_ff
            << "\n"
            << "  vocabulary      " << info.vocab_size << " tokens (" << info.tokenizer_model
            << ")\n"
            << "  chat template   "
            << (info.chat_template.empty() ? "none (ChatML will be used)"
                                           : std::to_string(info.chat_template.size()) + " chars")
            << "\n"
            << "  memory at " << n_ctx << " ctx: " << bytes(info.estimate_memory_bytes(n_ctx))
            << " (weights " << bytes(info.tensor_bytes) << " + KV cache "
            << bytes(info.kv_cache_bytes(n_ctx)) << " + compute allowance)\n";
}

}  // namespace

void add_models_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* models = app.add_subcommand("models", "Inspect models and make test models");
  models->require_subcommand(1);
  add_plan_command(*models, options);
  add_stats_command(*models, options);

  auto mk = std::make_shared<MktestOptions>();
  CLI::App* mktest = models->add_subcommand(
      "mktest",
      "Write a tiny llama-architecture GGUF with random weights from a seed and a real "
      "tokenizer copied from llama.cpp's models/ggml-vocab-NAME.gguf. Its output is gibberish "
      "by nature; it exists so tests and the demo exercise the real engine. The same options "
      "give a byte-identical file.");
  mktest->add_option("out", mk->out, "Output file")->required()->type_name("OUT.gguf");
  mktest->add_option("--seed", mk->spec.seed, "Seed of the random weights")->capture_default_str();
  mktest
      ->add_option("--vocab", mk->spec.vocab,
                   "Vocab name (e.g. phi-3, llama-bpe, qwen2) or a path to a GGUF vocab")
      ->capture_default_str();
  mktest->add_option("--layers", mk->spec.n_layer, "Transformer blocks")->capture_default_str();
  mktest->add_option("--embd", mk->spec.n_embd, "Embedding width")->capture_default_str();
  mktest->add_option("--heads", mk->spec.n_head, "Attention heads")->capture_default_str();
  mktest->add_option("--kv-heads", mk->spec.n_head_kv, "Key/value heads (grouped-query)")
      ->capture_default_str();
  mktest->add_option("--ff", mk->spec.n_ff, "Feed-forward width")->capture_default_str();
  mktest->add_option("--ctx", mk->spec.n_ctx, "Trained context length")->capture_default_str();
  mktest->add_option("--type", mk->type, "Weight type: f32, f16 or q8_0")->capture_default_str();
  mktest
      ->add_option("--lora", mk->lora_rank,
                   "Write a LoRA adapter of this rank (attn_q and attn_v of every layer) for "
                   "the model the other options describe, instead of a model")
      ->type_name("RANK");
  mktest->add_flag("--embedding", mk->embedding, "Set mean pooling, making an embedding model");
  mktest->callback([&options, mk] { run_mktest(options, *mk); });

  struct InfoOptions {
    std::string file;
    uint32_t n_ctx = 4096;
    bool json = false;
  };
  auto io = std::make_shared<InfoOptions>();
  CLI::App* info = models->add_subcommand(
      "info",
      "Describe a GGUF model: architecture, parameters, size, context, chat template "
      "and the memory it needs for a given context");
  info->add_option("file", io->file, "GGUF file")->required()->type_name("FILE");
  info->add_option("--ctx", io->n_ctx, "Context size for the memory estimate")
      ->capture_default_str();
  info->add_flag("--json", io->json, "Print JSON");
  info->callback([&options, io] {
    apply_verbosity(options);
    refuse_non_regular_file(io->file, io->file, "a GGUF model file");
    const llm::GgufInfo gguf = llm::inspect_gguf(io->file);
    if (io->json) {
      std::cout << info_json(gguf, io->n_ctx).dump(2) << "\n";
    } else {
      print_info(gguf, io->n_ctx);
    }
  });
}

}  // namespace a4ps::cli
