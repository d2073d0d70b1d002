// evolve/oracle: the ALFRED Oracle. It reads finished episodes (workflow runs that ended
// done) from the journal, and scores each persona's part against a rubric built from the codex
// — the persona's core imperatives, plus whether the task was done — as grammar-constrained
// JSON with a score and a quoted piece of evidence per criterion. Bias controls: ALFRED's own
// part is judged by ALFRED and a second judge, and counts as uncertain when they disagree;
// a high score whose quote is not in the judged turns makes the judgement uncertain; pairwise
// preferences are asked in both orders and a flip is a tie. An uncertain judgement is never
// golden.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "evolve/evolve_store.h"
#include "graph/checkpointer.h"
#include "persona/codex.h"
#include "persona/speaker.h"

namespace a4ps::evolve {

inline constexpr int kRubricVersion = 1;

struct Rubric {
  std::string persona;  // id
  std::vector<std::string> criteria;
  std::string sha256;  // of the version, persona and criteria: a changed codex is a new rubric
};
Rubric rubric_for(const Persona& persona);

// One model call of a persona in a run, as its journal entry recorded it.
struct Turn {
  std::int64_t checkpoint = 0;
  std::string node;
  std::string key;
  std::string input;  // the user message; "" for turns journaled before it was kept
  std::string output;
  std::string system_sha256;
  bool complete = true;  // false when the call ran past its deadline
};

struct Episode {
  std::string run_id;
  std::string thread_id;
  std::string task;
  std::string answer;
  std::map<std::string, std::vector<Turn>> turns;  // by persona display name
};

// The finished workflow runs, oldest first (`run_id` non-empty: that run only, which must be
// a finished workflow run: kNotFound / kFailedPrecondition otherwise).
std::vector<Episode> finished_episodes(graph::Checkpointer& checkpointer,
                                       const std::string& run_id = {});

struct PairwisePreference {
  std::string winner;    // "a", "b" or "tie"
  bool flipped = false;  // the two orders disagreed (counted as a tie)
};

class Oracle {
 public:
  // `speaker` makes the judges speak (ALFRED, and [evolve] second_judge for ALFRED's part).
  // Throws kInvalidArgument when second_judge is not a persona other than ALFRED.
  Oracle(persona::Speaker& speaker, const Codex& codex, const EvolveConfig& config);

  // Judges `persona`'s turns in `episode` (which must have some).
  Judgement judge(const Episode& episode, const Persona& persona);
  // Which of two answers to `prompt` is better, asked in both orders.
  PairwisePreference prefer(const std::string& prompt, const std::string& answer_a,
                            const std::string& answer_b);

 private:
  JudgeVerdict verdict_of(const Persona& judge, const Persona& persona, const Rubric& rubric,
                          const Episode& episode, std::string& problem);

  persona::Speaker& speaker_;
  const Codex& codex_;
  EvolveConfig config_;
};

struct JudgeReport {
  std::int64_t judged = 0;
  std::int64_t already = 0;  // judged before under the same rubric
  std::int64_t golden = 0;
  std::int64_t uncertain = 0;
  std::vector<Judgement> judgements;
};

// Judges every persona's part in every finished episode not judged yet under its current
// rubric, at most `limit` judgements; `on_judgement` is called after each one is stored.
JudgeReport judge_episodes(Oracle& oracle, EvolveStore& store, graph::Checkpointer& checkpointer,
                           const Codex& codex, const std::string& run_id, std::int64_t limit,
                           const std::function<void(const Judgement&)>& on_judgement);

}  // namespace a4ps::evolve
