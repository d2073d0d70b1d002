#include "persona/prompts.h"

#include <algorithm>

namespace a4ps::persona {
namespace {

using nlohmann::json;

std::string sources_block(const std::vector<Source>& sources) {
  std::string out;
  for (const Source& s : sources) {
    out +=
        "[" + std::to_string(s.number) + "] (" + s.kind + ": " + s.label + ")\n" + s.text + "\n\n";
  }
  return out;
}

std::string line_block(const std::vector<Thought>& line) {
  std::string out;
  for (const Thought& t : line) out += "- " + t.text + "\n";
  return out;
}

std::string dialogue_block(const std::vector<Turn>& dialogue) {
  std::string out;
  for (const Turn& t : dialogue) out += t.persona + ": " + t.text + "\n\n";
  return out;
}

std::string report_block(const std::string& report) {
  return report.empty() ? "" : "BABS's research report:\n" + report + "\n\n";
}

}  // namespace

json route_schema(int max_depth, int max_turns) {
  return {{"type", "object"},
          {"properties",
           {{"research", {{"type", "boolean"}}},
            {"plan", {{"type", "string"}, {"minLength", 1}, {"maxLength", 160}}},
            {"depth", {{"type", "integer"}, {"minimum", 1}, {"maximum", std::max(1, max_depth)}}},
            {"turns", {{"type", "integer"}, {"minimum", 0}, {"maximum", std::max(0, max_turns)}}}}},
          {"required", {"research", "plan", "depth", "turns"}},
          {"additionalProperties", false}};
}

json route_default(bool has_sources, int max_depth, int max_turns) {
  return {{"research", has_sources},
          {"plan", has_sources ? "Research the supplied sources, then reason about the task."
                               : "Reason about the task directly."},
          {"depth", std::max(1, max_depth)},
          {"turns", std::max(0, max_turns)}};
}

std::string route_prompt(const std::string& task, const std::vector<Source>& sources) {
  std::string available = "none";
  if (!sources.empty()) {
    available.clear();
    for (const Source& s : sources) {
      available += (available.empty() ? "" : "; ") + s.kind + " " + s.label;
    }
  }
  return "Task: " + task + "\n\nSources available to BABS: " + available +
         "\n\nDecide the route. Reply with JSON: {\"research\": true if BABS must research "
         "the sources first, false if BRICK and ROBIN can reason without them, \"plan\": one "
         "sentence, \"depth\": how many levels of candidate thoughts the task deserves, "
         "\"turns\": how many rounds of dialogue between ROBIN and BRICK}.";
}

std::string research_prompt(const std::string& task, const std::vector<Source>& sources) {
  if (sources.empty()) {
    return "Question: " + task +
           "\n\nNo sources were retrieved. Write a one-paragraph report that says plainly "
           "which parts of the question the sources do not cover.";
  }
  return "Question: " + task + "\n\nSources:\n\n" + sources_block(sources) +
         "Write a short research report that answers the question from these sources only, "
         "citing each claim by its source number, like [1].";
}

std::string propose_prompt(const std::string& task, const std::string& report,
                           const std::vector<Thought>& line, int candidate, int breadth) {
  std::string prompt = "Task: " + task + "\n\n" + report_block(report);
  if (!line.empty()) prompt += "Your line of thought so far:\n" + line_block(line) + "\n";
  return prompt + "Propose candidate thought " + std::to_string(candidate) + " of " +
         std::to_string(breadth) +
         ": one distinct, concrete next step toward solving the task, in at most three "
         "sentences.";
}

const json& evaluation_schema() {
  static const json schema = {
      {"type", "object"},
      {"properties",
       {{"score", {{"type", "integer"}, {"minimum", 0}, {"maximum", 100}}},
        {"critique", {{"type", "string"}, {"minLength", 1}, {"maxLength", 160}}}}},
      {"required", {"score", "critique"}},
      {"additionalProperties", false}};
  return schema;
}

json evaluation_default() {
  return {{"score", 50}, {"critique", "ROBIN's evaluation was unusable; a neutral score."}};
}

std::string evaluate_prompt(const std::string& task, const Thought& candidate) {
  return "Task: " + task + "\n\nA candidate thought from BRICK:\n" + candidate.text +
         "\n\nEvaluate how promising it is for an answer that is both sound and humane. Reply "
         "with JSON: {\"score\": an integer from 0 (abandon) to 100 (excellent), \"critique\": one "
         "sentence}.";
}

std::string robin_turn_prompt(const std::string& task, const std::vector<Thought>& line,
                              const std::vector<Turn>& dialogue) {
  std::string prompt = "Task: " + task + "\n\nBRICK's best line of thought:\n" + line_block(line);
  if (!dialogue.empty()) prompt += "\nThe dialogue so far:\n\n" + dialogue_block(dialogue);
  return prompt +
         "\nAnswer BRICK as ROBIN: say what his logic misses about the people involved, and "
         "offer the synthesis that joins both views.";
}

std::string brick_turn_prompt(const std::string& task, const std::vector<Turn>& dialogue) {
  return "Task: " + task + "\n\nThe dialogue so far:\n\n" + dialogue_block(dialogue) +
         "Answer ROBIN as BRICK: keep what is sound in her view, correct what is not, and state "
         "your position.";
}

std::string answer_prompt(const std::string& task, const std::string& report,
                          const std::vector<Turn>& dialogue) {
  return "Task: " + task + "\n\n" + report_block(report) +
         "The dialogue between BRICK and ROBIN:\n\n" + dialogue_block(dialogue) +
         "Write the final answer for the user: concise, direct, keeping BABS's source numbers "
         "where you rely on them.";
}

const json& judgement_schema() {
  static const json schema = {
      {"type", "object"},
      {"properties",
       {{"score", {{"type", "integer"}, {"minimum", 0}, {"maximum", 100}}},
        {"reason", {{"type", "string"}, {"minLength", 1}, {"maxLength", 160}}}}},
      {"required", {"score", "reason"}},
      {"additionalProperties", false}};
  return schema;
}

json judgement_default() {
  return {{"score", 50}, {"reason", "ALFRED's judgement was unusable; a neutral score."}};
}

std::string judge_prompt(const std::string& task, const std::string& brick,
                         const std::string& robin) {
  return "Task: " + task + "\n\nBRICK's final position:\n" + brick +
         "\n\nROBIN's final position:\n" + robin +
         "\n\nJudge the conflict between the two positions. Reply with JSON: {\"score\": 0 "
         "(full agreement) to 100 (irreconcilable), \"reason\": one sentence}.";
}

}  // namespace a4ps::persona
