// persona/prompts: the user messages the workflow sends each persona (the system message is
// the codex's), and the JSON schemas of the structured decisions with their safe defaults.
// Kept in one place so the whole dialogue can be read, and tuned, as one text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "persona/tot.h"

namespace a4ps::persona {

struct Source {
  int number = 0;     // [n] in BABS's report
  std::string kind;   // "document", "earlier turn"
  std::string label;  // file name, or "run r-..."
  std::string text;
};

struct Turn {
  std::string persona;  // "BRICK", "ROBIN"
  std::string text;
};

// ALFRED's routing decision: {"research": bool, "plan": string, "depth": 1..max_depth,
// "turns": 0..max_turns} — he may lower the Socratic limits for a simple task, never raise
// them.
nlohmann::json route_schema(int max_depth, int max_turns);
nlohmann::json route_default(bool has_sources, int max_depth, int max_turns);
std::string route_prompt(const std::string& task, const std::vector<Source>& sources);

std::string research_prompt(const std::string& task, const std::vector<Source>& sources);

std::string propose_prompt(const std::string& task, const std::string& report,
                           const std::vector<Thought>& line, int candidate, int breadth);

// ROBIN's evaluation of a candidate: {"score": 0..100, "critique": string}. Scores are whole
// percents because llama.cpp's grammars enforce integer ranges but not number ranges.
const nlohmann::json& evaluation_schema();
nlohmann::json evaluation_default();
std::string evaluate_prompt(const std::string& task, const Thought& candidate);

std::string robin_turn_prompt(const std::string& task, const std::vector<Thought>& line,
                              const std::vector<Turn>& dialogue);
std::string brick_turn_prompt(const std::string& task, const std::vector<Turn>& dialogue);

std::string answer_prompt(const std::string& task, const std::string& report,
                          const std::vector<Turn>& dialogue);

// ALFRED's judgement of the conflict: {"score": 0..100, "reason": string}.
const nlohmann::json& judgement_schema();
nlohmann::json judgement_default();
std::string judge_prompt(const std::string& task, const std::string& brick,
                         const std::string& robin);

}  // namespace a4ps::persona
