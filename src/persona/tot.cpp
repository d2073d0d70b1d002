#include "persona/tot.h"

#include <algorithm>
#include <cstdio>

namespace a4ps::persona {
namespace {

using nlohmann::json;

std::string score_text(double score) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%.2f", score);
  return buffer;
}

json list_json(const std::vector<Thought>& thoughts) {
  json out = json::array();
  for (const Thought& t : thoughts) out.push_back(to_json(t));
  return out;
}

std::vector<Thought> list_from(const json& j, const char* key) {
  std::vector<Thought> out;
  if (j.contains(key) && j[key].is_array()) {
    for (const json& t : j[key]) out.push_back(thought_from_json(t));
  }
  return out;
}

std::string ids(const std::vector<Thought>& thoughts) {
  std::string out;
  for (const Thought& t : thoughts) {
    out += (out.empty() ? "" : ", ") + t.id + " (" + score_text(t.score) + ")";
  }
  return out.empty() ? "none" : out;
}

}  // namespace

json to_json(const Thought& t) {
  return {{"id", t.id},     {"parent", t.parent}, {"depth", t.depth},      {"text", t.text},
          {"line", t.line}, {"score", t.score},   {"critique", t.critique}};
}

Thought thought_from_json(const json& j) {
  Thought t;
  t.id = j.value("id", "");
  t.parent = j.value("parent", "");
  t.depth = j.value("depth", 1);
  t.text = j.value("text", "");
  t.score = j.value("score", 0.0);
  t.critique = j.value("critique", "");
  if (j.contains("line") && j["line"].is_array())
    t.line = j["line"].get<std::vector<std::string>>();
  return t;
}

json to_json(const TotState& s) {
  return {{"depth", s.depth},
          {"beam", list_json(s.beam)},
          {"stash", list_json(s.stash)},
          {"candidates", list_json(s.candidates)},
          {"pruned", list_json(s.pruned)},
          {"notes", s.notes}};
}

TotState tot_from_json(const json& j) {
  TotState s;
  if (!j.is_object()) return s;
  s.depth = j.value("depth", 0);
  s.beam = list_from(j, "beam");
  s.stash = list_from(j, "stash");
  s.candidates = list_from(j, "candidates");
  s.pruned = list_from(j, "pruned");
  if (j.contains("notes") && j["notes"].is_array()) {
    s.notes = j["notes"].get<std::vector<std::string>>();
  }
  return s;
}

void rank(std::vector<Thought>& thoughts) {
  std::stable_sort(thoughts.begin(), thoughts.end(), [](const Thought& a, const Thought& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  });
}

void select(TotState& s, const TotLimits& limits) {
  ++s.depth;
  std::vector<Thought> ranked = std::move(s.candidates);
  s.candidates.clear();
  rank(ranked);
  std::vector<Thought> survivors;
  for (Thought& t : ranked) {
    (t.score >= limits.prune_threshold ? survivors : s.pruned).push_back(t);
  }
  const std::string depth = "depth " + std::to_string(s.depth) + ": ";
  const size_t beam = static_cast<size_t>(std::max(1, limits.beam));
  if (!survivors.empty()) {
    const size_t keep = std::min(beam, survivors.size());
    s.beam.assign(survivors.begin(), survivors.begin() + static_cast<std::ptrdiff_t>(keep));
    s.stash.insert(s.stash.end(), survivors.begin() + static_cast<std::ptrdiff_t>(keep),
                   survivors.end());
    rank(s.stash);
    s.notes.push_back(depth + "kept " + ids(s.beam) +
                      (ranked.size() > survivors.size()
                           ? "; pruned " + std::to_string(ranked.size() - survivors.size())
                           : ""));
    return;
  }
  if (!s.stash.empty()) {
    const size_t keep = std::min(beam, s.stash.size());
    s.beam.assign(s.stash.begin(), s.stash.begin() + static_cast<std::ptrdiff_t>(keep));
    s.stash.erase(s.stash.begin(), s.stash.begin() + static_cast<std::ptrdiff_t>(keep));
    s.notes.push_back(depth + "every candidate scored under " + score_text(limits.prune_threshold) +
                      "; backtracked to " + ids(s.beam));
    return;
  }
  if (!ranked.empty()) {
    s.beam = {ranked.front()};
    std::erase_if(s.pruned, [&](const Thought& t) { return t.id == ranked.front().id; });
    s.notes.push_back(depth + "every candidate scored under " + score_text(limits.prune_threshold) +
                      " and nothing is left to backtrack to; kept the best, " + ids(s.beam));
  }
}

bool should_expand(const TotState& s, const TotLimits& limits) {
  return s.depth < limits.max_depth;
}

}  // namespace a4ps::persona
