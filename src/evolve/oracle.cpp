#include "evolve/oracle.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "core/hash.h"
#include "core/text.h"
#include "persona/workflow.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

constexpr size_t kTurnInputChars = 500;
constexpr size_t kTurnOutputChars = 1200;
constexpr size_t kEvidenceChars = 200;
constexpr double kJudgeDisagreement = 0.25;  // judges further apart than this: uncertain
constexpr int32_t kJudgeMaxTokens = 640;

std::string text_field(const json& value, const char* key) {
  const auto it = value.find(key);
  return it != value.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Lower case with every run of whitespace one space: how a quote is looked for in the turns.
std::string normalized(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

json judgement_schema(size_t n_criteria) {
  const auto n = static_cast<int64_t>(n_criteria);
  const json item = {{"type", "object"},
                     {"properties",
                      {{"criterion", {{"type", "integer"}, {"minimum", 1}, {"maximum", n}}},
                       {"score", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10}}},
                       {"evidence", {{"type", "string"}, {"maxLength", kEvidenceChars}}}}},
                     {"required", {"criterion", "score", "evidence"}},
                     {"additionalProperties", false}};
  return {{"type", "object"},
          {"properties",
           {{"scores", {{"type", "array"}, {"items", item}, {"minItems", n}, {"maxItems", n}}}}},
          {"required", {"scores"}},
          {"additionalProperties", false}};
}

std::string judge_prompt(const Persona& persona, const Rubric& rubric, const Episode& episode) {
  std::string prompt = "You are judging " + persona.name + "'s part (" + persona.role +
                       ") in a finished task. For each criterion give a score from 0 (not at "
                       "all) to 10 (fully) and quote, word for word, the part of " +
                       persona.name +
                       "'s turns that shows it (an empty quote if nothing does).\n\n";
  prompt += "Task: " + cut_middle(episode.task, 800) + "\n";
  if (!episode.answer.empty()) prompt += "Final answer: " + cut_middle(episode.answer, 800) + "\n";
  prompt += "\n" + persona.name + "'s turns:\n";
  size_t n = 0;
  for (const Turn& t : episode.turns.at(persona.name)) {
    prompt += "[" + std::to_string(++n) + "] asked: " + cut_middle(t.input, kTurnInputChars) +
              "\n    said: " + cut_middle(t.output, kTurnOutputChars) + "\n";
  }
  prompt += "\nCriteria:\n";
  for (size_t i = 0; i < rubric.criteria.size(); ++i) {
    prompt += std::to_string(i + 1) + ". " + rubric.criteria[i] + "\n";
  }
  return prompt +
         "\nAnswer with JSON: {\"scores\": [{\"criterion\": 1, \"score\": 0-10, "
         "\"evidence\": \"a quote\"}, ...]}, one entry per criterion.";
}

// Why a verdict cannot be trusted (a high score whose quote is not in the turns), or "".
std::string unsupported_claim(const JudgeVerdict& v, const std::string& turns_text) {
  for (const CriterionScore& c : v.scores) {
    if (c.score < 0.5) continue;
    const std::string quote = normalized(c.evidence);
    if (quote.empty() || turns_text.find(quote) == std::string::npos) {
      return v.judge + " scored '" + c.criterion + "' " + std::to_string(c.score) +
             " without a quote from the turns";
    }
  }
  return "";
}

json pairwise_schema() {
  return {
      {"type", "object"},
      {"properties", {{"better", {{"type", "string"}, {"enum", {"first", "second", "equal"}}}}}},
      {"required", {"better"}},
      {"additionalProperties", false}};
}

}  // namespace

Rubric rubric_for(const Persona& persona) {
  Rubric r;
  r.persona = persona.id;
  for (const std::string& imperative : persona.core_imperatives) {
    r.criteria.push_back(persona.name + " keeps the imperative: " + imperative);
  }
  r.criteria.push_back("The turns move the task toward a correct, complete answer.");
  std::string text = "rubric v" + std::to_string(kRubricVersion) + "\n" + persona.id + "\n";
  for (const std::string& c : r.criteria) text += c + "\n";
  r.sha256 = sha256_hex(text);
  return r;
}

std::vector<Episode> finished_episodes(graph::Checkpointer& checkpointer,
                                       const std::string& run_id) {
  std::vector<graph::RunInfo> runs;
  if (!run_id.empty()) {
    const graph::RunInfo run = checkpointer.get_run(run_id);
    if (run.status != "done") {
      throw Error(ErrorCode::kFailedPrecondition,
                  "run " + run_id + " is " + run.status + "; only finished (done) runs are judged");
    }
    runs.push_back(run);
  } else {
    runs = checkpointer.list_runs({}, "done", 1000000);
    std::reverse(runs.begin(), runs.end());
  }
  std::vector<Episode> out;
  for (const graph::RunInfo& run : runs) {
    if (checkpointer.get_thread(run.thread_id).graph != persona::kWorkflowGraphName) {
      if (!run_id.empty()) {
        throw Error(ErrorCode::kFailedPrecondition,
                    "run " + run_id + " is not a run of the persona workflow");
      }
      continue;
    }
    Episode e;
    e.run_id = run.id;
    e.thread_id = run.thread_id;
    e.task = text_field(run.input, "task");
    e.answer = text_field(checkpointer.load(run.thread_id).state, "answer");
    for (const auto& [checkpoint, entry] : checkpointer.run_journal(run.id, "model")) {
      const std::string persona = text_field(entry.value, "persona");
      if (persona.empty()) continue;
      Turn t;
      t.checkpoint = checkpoint;
      t.node = entry.node;
      t.key = entry.key;
      t.input = text_field(entry.value, "input");
      t.output = text_field(entry.value, "text");
      t.system_sha256 = text_field(entry.value, "system_sha256");
      t.complete = text_field(entry.value, "stop") != "deadline";
      e.turns[persona].push_back(std::move(t));
    }
    out.push_back(std::move(e));
  }
  return out;
}

Oracle::Oracle(persona::Speaker& speaker, const Codex& codex, const EvolveConfig& config)
    : speaker_(speaker), codex_(codex), config_(config) {
  const Persona& second = codex_.persona(config_.second_judge);  // kNotFound names the known ones
  if (second.id == "alfred") {
    throw_invalid_argument("[evolve] second_judge = \"" + config_.second_judge +
                           "\": must be a persona other than ALFRED, who judges beside it");
  }
}

JudgeVerdict Oracle::verdict_of(const Persona& judge, const Persona& persona, const Rubric& rubric,
                                const Episode& episode, std::string& problem) {
  persona::SpeakOptions options;
  options.max_tokens = kJudgeMaxTokens;
  const json schema = judgement_schema(rubric.criteria.size());
  json safe_default = {{"scores", json::array()}};
  for (size_t i = 0; i < rubric.criteria.size(); ++i) {
    safe_default["scores"].push_back({{"criterion", i + 1}, {"score", 0}, {"evidence", ""}});
  }
  const persona::Decision d = speaker_.decide_directly(
      judge.id, judge_prompt(persona, rubric, episode), schema, safe_default, options);
  if (d.used_default) problem = judge.name + "'s judgement was unusable: " + d.problem;
  JudgeVerdict v;
  v.judge = judge.name;
  v.model = judge.model;
  std::vector<bool> seen(rubric.criteria.size(), false);
  for (const json& s : d.value["scores"]) {
    const auto index = s["criterion"].get<int64_t>() - 1;
    if (index < 0 || static_cast<size_t>(index) >= seen.size() ||
        seen[static_cast<size_t>(index)]) {
      continue;  // the grammar keeps the range; a repeated criterion counts once
    }
    seen[static_cast<size_t>(index)] = true;
    v.scores.push_back({rubric.criteria[static_cast<size_t>(index)],
                        static_cast<double>(s["score"].get<int64_t>()) / 10.0,
                        s["evidence"].get<std::string>()});
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) v.scores.push_back({rubric.criteria[i], 0.0, ""});  // unscored: no credit
  }
  double sum = 0;
  for (const CriterionScore& c : v.scores) sum += c.score;
  v.score = v.scores.empty() ? 0.0 : sum / static_cast<double>(v.scores.size());
  return v;
}

Judgement Oracle::judge(const Episode& episode, const Persona& persona) {
  if (episode.turns.count(persona.name) == 0) {
    throw_invalid_argument("run " + episode.run_id + " has no turns of " + persona.name);
  }
  const Rubric rubric = rubric_for(persona);
  Judgement j;
  j.run_id = episode.run_id;
  j.thread_id = episode.thread_id;
  j.persona = persona.id;
  j.codex_version = codex_.version();
  j.rubric_sha256 = rubric.sha256;
  std::vector<const Persona*> judges = {&codex_.persona("alfred")};
  if (persona.id == "alfred") judges.push_back(&codex_.persona(config_.second_judge));
  std::string turns_text;
  for (const Turn& t : episode.turns.at(persona.name)) {
    j.turns.push_back({{"checkpoint", t.checkpoint}, {"node", t.node}, {"key", t.key}});
    turns_text += normalized(t.output) + "\n";
  }
  std::vector<std::string> problems;
  for (const Persona* judge : judges) {
    std::string problem;
    j.judges.push_back(verdict_of(*judge, persona, rubric, episode, problem));
    if (!problem.empty()) problems.push_back(problem);
    if (config_.require_evidence) {
      const std::string claim = unsupported_claim(j.judges.back(), turns_text);
      if (!claim.empty()) problems.push_back(claim);
    }
  }
  double sum = 0;
  for (const JudgeVerdict& v : j.judges) sum += v.score;
  j.score = sum / static_cast<double>(j.judges.size());
  if (j.judges.size() > 1 &&
      std::fabs(j.judges[0].score - j.judges[1].score) > kJudgeDisagreement) {
    problems.push_back("the judges disagree (" + std::to_string(j.judges[0].score) + " and " +
                       std::to_string(j.judges[1].score) + ")");
  }
  j.uncertain = !problems.empty();
  for (const std::string& p : problems)
    j.uncertain_reason += (j.uncertain_reason.empty() ? "" : "; ") + p;
  j.golden = !j.uncertain && j.score >= config_.golden_threshold;
  return j;
}

PairwisePreference Oracle::prefer(const std::string& prompt, const std::string& answer_a,
                                  const std::string& answer_b) {
  const auto ask = [&](const std::string& first, const std::string& second) {
    const std::string question =
        "Which answer to this request is better?\n\nRequest: " + cut_middle(prompt, 1000) +
        "\n\nFirst answer: " + cut_middle(first, 1500) +
        "\n\nSecond answer: " + cut_middle(second, 1500) +
        "\n\nAnswer with JSON: {\"better\": \"first\" | \"second\" | \"equal\"}";
    const persona::Decision d =
        speaker_.decide_directly("alfred", question, pairwise_schema(), {{"better", "equal"}});
    return d.value["better"].get<std::string>();
  };
  const std::string forward = ask(answer_a, answer_b);   // a is first
  const std::string backward = ask(answer_b, answer_a);  // b is first
  const std::string a_says = forward == "first" ? "a" : forward == "second" ? "b" : "tie";
  const std::string b_says = backward == "first" ? "b" : backward == "second" ? "a" : "tie";
  PairwisePreference p;
  p.flipped = a_says != b_says;
  p.winner = p.flipped ? "tie" : a_says;
  return p;
}

JudgeReport judge_episodes(Oracle& oracle, EvolveStore& store, graph::Checkpointer& checkpointer,
                           const Codex& codex, const std::string& run_id, std::int64_t limit,
                           const std::function<void(const Judgement&)>& on_judgement) {
  JudgeReport report;
  for (const Episode& episode : finished_episodes(checkpointer, run_id)) {
    for (const Persona& persona : codex.personas()) {
      if (episode.turns.count(persona.name) == 0) continue;
      if (store.has_judgement(episode.run_id, persona.id, rubric_for(persona).sha256)) {
        ++report.already;
        continue;
      }
      if (report.judged >= limit) return report;
      Judgement j = store.add_judgement(oracle.judge(episode, persona));
      ++report.judged;
      report.golden += j.golden ? 1 : 0;
      report.uncertain += j.uncertain ? 1 : 0;
      if (on_judgement) on_judgement(j);
      report.judgements.push_back(std::move(j));
    }
  }
  return report;
}

}  // namespace a4ps::evolve
