// persona/tot: the bookkeeping of the Socratic Tree of Thoughts, kept apart from the model calls
// so that it is pure and testable. BRICK proposes `breadth` candidate thoughts from each thought
// in the beam; ROBIN scores each (0..1); select() keeps the best `beam`, abandons candidates
// under `prune_threshold`, and when a whole depth is pruned backtracks to the best thoughts
// set aside earlier. The search stops at `max_depth`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace a4ps::persona {

struct TotLimits {
  int breadth = 3;
  int beam = 2;
  int max_depth = 2;
  double prune_threshold = 0.3;
};

struct Thought {
  std::string id;      // "d1.2": depth 1, candidate 2
  std::string parent;  // the thought it grew from; empty at depth 1
  int depth = 1;
  std::string text;
  std::vector<std::string> line;  // the texts of its ancestors, oldest first
  double score = 0;               // ROBIN's, 0..1
  std::string critique;
};

struct TotState {
  int depth = 0;                    // depths expanded so far
  std::vector<Thought> beam;        // the thoughts the next depth grows from, best first
  std::vector<Thought> stash;       // survivors not in the beam, best first: for backtracking
  std::vector<Thought> candidates;  // the current depth's candidates (scored after ROBIN)
  std::vector<Thought> pruned;      // abandoned: scored under the threshold
  std::vector<std::string> notes;   // what each selection did, for the transcript
};

nlohmann::json to_json(const Thought& t);
Thought thought_from_json(const nlohmann::json& j);
nlohmann::json to_json(const TotState& s);
TotState tot_from_json(const nlohmann::json& j);  // null gives the empty state

// Ranks by score (higher first), then by id, so that equal scores order deterministically.
void rank(std::vector<Thought>& thoughts);

// After the candidates of depth `s.depth + 1` are scored: keeps the best `beam` survivors,
// stashes the other survivors, prunes the rest; if none survive, backtracks to the stash; if
// the stash is empty as well, keeps the best candidate (noting that it is under the
// threshold) so the dialogue has a thought to work on. Advances `depth`.
void select(TotState& s, const TotLimits& limits);

// Whether BRICK should propose another depth.
bool should_expand(const TotState& s, const TotLimits& limits);

}  // namespace a4ps::persona
