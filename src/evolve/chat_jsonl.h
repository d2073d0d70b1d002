// evolve/chat_jsonl: training examples in the chat format of a dataset file — one JSON object
// per line, {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}, the
// last message the assistant's — and their tokenization for the trainer (docs/formats/evolve.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "llm/backend.h"
#include "llm/llama_backend.h"

namespace a4ps::evolve {

using ChatExample = std::vector<llm::ChatMessage>;

// One line of a dataset file, without its newline.
std::string chat_example_line(const ChatExample& example);

// Reads `path`. Throws kNotFound, or kInvalidArgument naming the line and what is wrong (not
// JSON, no messages, an unknown role, content that is not a string, a last message that is
// not the assistant's). Empty lines are skipped.
std::vector<ChatExample> read_chat_jsonl(const std::filesystem::path& path);

// Writes the examples, one line each, through a temporary file fsynced and renamed.
void write_chat_jsonl(const std::filesystem::path& path, const std::vector<ChatExample>& examples);

// Each example through the model's chat template (LlamaBackend::training_tokens).
std::vector<llm::TrainingTokens> tokenize_examples(const llm::LlamaBackend& tokenizer,
                                                   const std::vector<ChatExample>& examples);

}  // namespace a4ps::evolve
