// persona/structured_calls: every structured (grammar-constrained) decision the workflow asks a
// model for, each with the persona who answers it, its schema and a prompt of the real shape.
// The grammar search (tests/persona/grammar_search_test.cpp) drives each of them with many
// seeds on the demo models, so a schema whose grammar a model can drive into an explosion is
// found before a user's run is; a new decision belongs in this list.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace a4ps::persona {

struct StructuredCall {
  std::string name;     // "route", "evaluation", ...
  std::string persona;  // the codex key of who answers: "alfred", "brick", "robin"
  nlohmann::json schema;
  std::string prompt;
};

// The decisions of a run of `task` under the given Socratic limits.
std::vector<StructuredCall> workflow_structured_calls(const std::string& task, int max_depth,
                                                      int max_turns);

}  // namespace a4ps::persona
