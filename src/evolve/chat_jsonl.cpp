#include "evolve/chat_jsonl.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

llm::Role parse_role(const std::string& role, const std::string& where) {
  if (role == "system") return llm::Role::kSystem;
  if (role == "user") return llm::Role::kUser;
  if (role == "assistant") return llm::Role::kAssistant;
  throw_invalid_argument(where + ": role '" + role + "': expected system, user or assistant");
}

ChatExample parse_line(const std::string& line, const std::string& where) {
  const json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) throw_invalid_argument(where + ": not a JSON object");
  const auto messages = doc.find("messages");
  if (messages == doc.end() || !messages->is_array() || messages->size() < 2) {
    throw_invalid_argument(where + ": expected \"messages\", an array of at least two messages");
  }
  ChatExample example;
  for (const json& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      throw_invalid_argument(where + ": each message needs a string \"role\" and \"content\"");
    }
    example.push_back(
        {parse_role(m["role"].get<std::string>(), where), m["content"].get<std::string>()});
  }
  if (example.back().role != llm::Role::kAssistant) {
    throw_invalid_argument(where + ": the last message must be the assistant's (it is trained on)");
  }
  return example;
}

}  // namespace

std::string chat_example_line(const ChatExample& example) {
  json messages = json::array();
  for (const llm::ChatMessage& m : example) {
    messages.push_back({{"role", std::string(llm::role_name(m.role))}, {"content", m.content}});
  }
  return json{{"messages", messages}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<ChatExample> read_chat_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_not_found(path.string() + ": no such dataset file");
  std::vector<ChatExample> out;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parse_line(line, path.string() + ":" + std::to_string(number)));
  }
  return out;
}

void write_chat_jsonl(const std::filesystem::path& path, const std::vector<ChatExample>& examples) {
  std::string text;
  for (const ChatExample& e : examples) text += chat_example_line(e) + "\n";
  write_file_durably(path, text);
}

std::vector<llm::TrainingTokens> tokenize_examples(const llm::LlamaBackend& tokenizer,
                                                   const std::vector<ChatExample>& examples) {
  std::vector<llm::TrainingTokens> out;
  out.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    try {
      out.push_back(tokenizer.training_tokens(examples[i]));
    } catch (const Error& e) {
      throw Error(e.code(), "example " + std::to_string(i + 1) + ": " + e.what());
    }
  }
  return out;
}

}  // namespace a4ps::evolve
