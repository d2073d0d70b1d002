#include "persona/structured_calls.h"

#include "forge/tool_spec.h"
#include "persona/prompts.h"
#include "persona/tool_use.h"

namespace a4ps::persona {

std::vector<StructuredCall> workflow_structured_calls(const std::string& task, int max_depth,
                                                      int max_turns) {
  const std::vector<Source> sources = {
      {1, "document", "atlas.md", "The Community Resource Atlas lists food banks and clinics."}};
  Thought candidate;
  candidate.id = "d1.1";
  candidate.text = "Start with a three-question welcome that routes people to a resource.";
  const std::string report = "[1] atlas.md: the atlas lists food banks and clinics.";
  const std::string catalogue =
      "word_count(text: str) -> int: Counts the words of a text.\n"
      "mean(values: list) -> float: The arithmetic mean of numbers.\n";
  return {
      {"route", "alfred", route_schema(max_depth, max_turns), route_prompt(task, sources)},
      {"evaluation", "robin", evaluation_schema(), evaluate_prompt(task, candidate)},
      {"judgement", "alfred", judgement_schema(),
       judge_prompt(task, candidate.text, "Ask how people feel before asking anything else.")},
      {"tool decision", "brick", tool_decision_schema(),
       tool_decision_prompt(task, report, catalogue)},
      {"tool arguments", "brick", tool_arguments_schema(),
       tool_arguments_prompt(task, "word_count(text: str) -> int", "Counts the words of a text.")},
      {"forge attempt", "brick", forge::attempt_schema(),
       forge::forge_prompt("count the words of a text", "", {})},
  };
}

}  // namespace a4ps::persona
