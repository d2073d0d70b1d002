// Writes the files the CLI tests feed to `a4ps`: good and bad models, configs, codices and
// schemas. Usage: a4ps_test_fixtures OUTDIR
#include <gguf.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "llm/test_model.h"

namespace {

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  std::filesystem::remove_all(dir / "new-image");  // made by cli.image_init on every run
  a4ps::llm::TestModelSpec spec;
  a4ps::llm::write_test_model(spec, dir / "tiny.gguf");

  std::ifstream in(dir / "tiny.gguf", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write(dir / "truncated.gguf", bytes.substr(0, bytes.size() / 2));
  write(dir / "notes.gguf", "just some notes, not a model\n");

  gguf_context* ctx = gguf_init_empty();
  gguf_set_val_str(ctx, "general.architecture", "quantum-brain");
  gguf_write_to_file(ctx, (dir / "quantum.gguf").string().c_str(), false);
  gguf_free(ctx);

  write(dir / "bad_value.toml", "[budget]\nmemory_mb = -3\n");
  write(dir / "bad_syntax.toml", "[budget\nmemory_mb = 3\n");
  write(dir / "unknown_key.toml", "[budget]\nmemroy_mb = 3\n");
  write(dir / "local.toml", "[models]\nbrick = \"tiny.gguf\"\n[inference]\ncontext_size = 1024\n");
  write(dir / "small_budget.toml", "[models]\nbrick = \"tiny.gguf\"\n[budget]\nmemory_mb = 10\n");
  write(dir / "bad_ref.toml", "[models]\nbrick = \"openai:qwen\"\n");
  write(dir / "ollama.toml", "[models]\nbrick = \"phi3:mini-4k-instruct\"\n");
  write(dir / "bad_codex.toml",
        "[persona.alfred]\nname=\"ALFRED\"\nrole=\"r\"\nmodel=\"alfred\"\nsystem_prompt=\"s\"\n"
        "[persona.babs]\nname=\"BABS\"\nrole=\"r\"\nmodel=\"babs\"\nsystem_prompt=\"s\"\n"
        "[persona.brick]\nname=\"BRICK\"\nrole=\"r\"\nmodel=\"gpt-17\"\nsystem_prompt=\"s\"\n"
        "[persona.robin]\nname=\"ROBIN\"\nrole=\"r\"\nmodel=\"robin\"\nsystem_prompt=\"s\"\n");
  write(dir / "bad_schema.json", "{\"type\": 5}");
  write(dir / "not_json.json", "{\"type\": ");
  write(dir / "route.json",
        R"({"type":"object","properties":{"research":{"type":"boolean"},)"
        R"("plan":{"type":"string","maxLength":20}},"required":["research","plan"],)"
        R"("additionalProperties":false})");
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "community resource atlas ";
  write(dir / "long_prompt.txt", long_prompt);
  return 0;
}
