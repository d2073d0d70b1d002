#include "motive/motivator.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/text.h"
#include "graph/checkpointer.h"
#include "motive/event_bus.h"

namespace a4ps::motive {
namespace {

using nlohmann::json;

constexpr int kEventsPerTransaction = 256;
constexpr size_t kMaxCauses = 20;  // causes (and reasons) a merged goal keeps, newest last
constexpr int kRunsScannedForEpisodes = 50;
constexpr const char* kCuriosityTopic = "curiosity";

std::string format_score(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", score);
  return buf;
}

int clamp_priority(double priority) {
  return static_cast<int>(std::clamp(std::lround(priority), 0L, 100L));
}

// Keeps the last kMaxCauses elements.
json last_of(json array) {
  if (array.size() > kMaxCauses)
    array.erase(array.begin(), array.end() - static_cast<std::ptrdiff_t>(kMaxCauses));
  return array;
}

// A cause folded into an open goal: the newest values win, except "causes" (appended) and
// "reasons" (united, in order), and "task" (the theme's first words stay).
json merged_context(const json& old_context, const json& new_context) {
  json out = old_context.is_object() ? old_context : json::object();
  for (const auto& [key, value] : new_context.items()) {
    if (key == "causes" || key == "reasons") {
      json list = out.contains(key) && out[key].is_array() ? out[key] : json::array();
      for (const json& v : value) {
        if (key == "causes" || std::find(list.begin(), list.end(), v) == list.end()) {
          list.push_back(v);
        }
      }
      out[key] = last_of(std::move(list));
    } else if (key != "task" || !out.contains("task")) {
      out[key] = value;
    }
  }
  return out;
}

// The final positions of a dissonance payload: every field but the measurement and where it
// came from, by whatever names the workflow gives its speakers (motive/ knows no persona).
json positions_of(const json& payload) {
  static const std::vector<std::string> kNotPositions = {"task", "score", "parts", "thread", "run"};
  json positions = json::object();
  for (const auto& [key, value] : payload.items()) {
    if (std::find(kNotPositions.begin(), kNotPositions.end(), key) == kNotPositions.end()) {
      positions[key] = value;
    }
  }
  return positions;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string synthesis_prompt(const json& c) {
  std::string prompt = "Resolve the cognitive dissonance on this task: " + string_field(c, "task") +
                       "\nThese positions conflicted (dissonance " +
                       format_score(c.value("score", 0.0)) + "):";
  const json positions = c.value("positions", json::object());  // items() of a temporary dangles
  for (const auto& [speaker, text] : positions.items()) {
    prompt +=
        "\n" + upper(speaker) + ": " + (text.is_string() ? text.get<std::string>() : text.dump());
  }
  return prompt +
         "\nPropose a synthesis that keeps what is right in each, and say what each missed.";
}

std::string capability_prompt(const json& c) {
  std::string prompt = "Build a tool for this capability: " + string_field(c, "capability");
  const json reasons = c.value("reasons", json::array());
  if (!reasons.empty()) prompt += "\nEarlier attempts failed because:";
  for (const json& r : reasons)
    prompt += "\n- " + (r.is_string() ? r.get<std::string>() : r.dump());
  return prompt + "\nWrite it so that these problems do not recur.";
}

std::string reflection_prompt(const json& c) {
  const json episodes = c.value("episodes", json::array());
  std::string prompt = "Reflect on the last " + std::to_string(episodes.size()) +
                       " episodes: look for patterns of inefficiency or knowledge gaps, and say "
                       "what should be done differently.";
  int n = 0;
  for (const json& e : episodes) {
    prompt += "\n" + std::to_string(++n) + ". " + string_field(e, "task");
    const std::string answer = string_field(e, "answer");
    if (!answer.empty()) prompt += "\n   Answer: " + utf8_prefix(answer, 400);
  }
  return prompt;
}

std::string prompt_for(GoalKind kind, const json& context) {
  switch (kind) {
    case GoalKind::kSynthesis:
      return synthesis_prompt(context);
    case GoalKind::kCapability:
      return capability_prompt(context);
    case GoalKind::kReflection:
      return reflection_prompt(context);
    case GoalKind::kUser:
    case GoalKind::kEvolve:  // made by the runtime's strategic loop, with its own prompt
      break;
  }
  return string_field(context, "task");
}

// The answer and dissonance of `run` from its thread's episodes channel, when it has one.
void add_episode_outcome(graph::Checkpointer& log, const graph::RunInfo& run, json& episode) {
  try {
    const graph::Checkpoint cp = log.load(run.thread_id);
    const json& episodes = cp.state.contains("episodes") ? cp.state["episodes"] : json();
    if (!episodes.is_array()) return;
    for (const json& e : episodes) {
      if (string_field(e, "run") != run.id) continue;
      if (e.contains("answer")) episode["answer"] = e["answer"];
      if (e.contains("dissonance")) episode["dissonance"] = e["dissonance"];
    }
  } catch (const Error&) {
    // A thread without a checkpoint has no outcome to add; the task alone still counts.
  }
}

}  // namespace

std::string_view goal_change_name(GoalChange::What what) {
  switch (what) {
    case GoalChange::What::kCreated:
      return "created";
    case GoalChange::What::kMerged:
      return "merged";
    case GoalChange::What::kExpired:
      return "expired";
  }
  return "created";
}

std::string normalised_text(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c >= 0x80) {
      if (space && !out.empty()) out += ' ';
      out += static_cast<char>(std::tolower(c));
      space = false;
    } else {
      space = true;
    }
  }
  return out;
}

std::string theme_of(std::string_view prefix, std::string_view text) {
  return std::string(prefix) + ":" + hex64(fnv1a(normalised_text(text)));
}

Motivator::Motivator(const MotivatorConfig& config, graph::Checkpointer& log, GoalStore& goals)
    : config_(config), log_(log), goals_(goals) {}

PollResult Motivator::poll(std::int64_t now_ms) {
  PollResult result;
  for (;;) {
    const std::int64_t cursor = goals_.cursor().event_cursor;
    // Read before the transaction opens: the checkpointer's connection must never wait for
    // the write lock this one holds.
    const graph::PublishedEvents batch = log_.published_events(cursor, kEventsPerTransaction);
    if (batch.events.empty() && batch.scanned_to == cursor) break;
    GoalStore::Batch txn(goals_);
    for (const graph::PublishedEvent& e : batch.events) consume(e, result);
    goals_.set_event_cursor(batch.scanned_to);
    txn.commit();
    if (batch.events.size() < static_cast<size_t>(kEventsPerTransaction)) break;
  }
  curiosity(now_ms, result);
  return result;
}

std::int64_t Motivator::next_curiosity_ms() {
  const std::int64_t last = goals_.cursor().curiosity_ms;
  return last == 0 ? 0 : last + config_.curiosity_interval_seconds * 1000;
}

GoalChange Motivator::place(NewGoal goal, const std::string& why) {
  if (goal.chain_depth > config_.max_chain_depth) {
    goal.status = GoalStatus::kExpired;
    goal.result =
        "chain depth " + std::to_string(goal.chain_depth) +
        " is past [motivator] max_chain_depth = " + std::to_string(config_.max_chain_depth) +
        ": recorded, never queued";
    return {GoalChange::What::kExpired, goals_.create(goal), why};
  }
  if (const std::optional<Goal> open = goals_.find_open(goal.kind, goal.theme)) {
    const json context = merged_context(open->context, goal.context);
    return {GoalChange::What::kMerged,
            goals_.merge(open->id, prompt_for(goal.kind, context), context,
                         std::max(open->priority, goal.priority)),
            why};
  }
  return {GoalChange::What::kCreated, goals_.create(goal), why};
}

void Motivator::consume(const graph::PublishedEvent& e, PollResult& result) {
  ++result.events_read;
  const json& p = e.payload;
  const bool dissonance = e.topic == kCognitiveDissonance;
  if ((!dissonance && e.topic != kToolFailed) || !p.is_object()) {
    ++result.events_ignored;
    return;
  }
  const std::string run = string_field(p, "run");
  const std::optional<Goal> parent = goals_.goal_of_run(run);
  NewGoal goal;
  goal.cause_event = e.id;
  goal.cause_topic = e.topic;
  goal.budget_tokens = config_.goal_budget_tokens;
  goal.chain_depth = parent ? parent->chain_depth + 1 : 0;
  if (parent) goal.parent_goal = parent->id;
  const json episode = {{"thread", string_field(p, "thread")}, {"run", run}};
  std::string why;
  if (dissonance) {
    if (!p.contains("score") || !p["score"].is_number()) {
      log::warn("motivator: event " + std::to_string(e.id) + " (" + e.topic +
                ") has no numeric score; ignored");
      ++result.events_ignored;
      return;
    }
    const double score = p["score"].get<double>();
    if (score <= config_.dissonance_threshold) {
      ++result.events_ignored;
      return;
    }
    // A chain of synthesis goals stays on its first task's theme.
    const bool same_chain = parent && parent->kind == GoalKind::kSynthesis;
    const std::string task =
        same_chain ? string_field(parent->context, "task") : string_field(p, "task");
    goal.kind = GoalKind::kSynthesis;
    goal.theme = same_chain ? parent->theme : theme_of("synthesis", task);
    goal.context = {{"task", task},
                    {"positions", positions_of(p)},
                    {"score", score},
                    {"parts", p.value("parts", json::object())},
                    {"episode", episode},
                    {"causes", json::array({{{"event", e.id}, {"run", run}, {"score", score}}})}};
    goal.priority = clamp_priority(50 + 40 * score - 10 * goal.chain_depth);
    why = e.topic + " " + format_score(score) + " from run " + run;
  } else {
    const std::string capability = string_field(p, "capability");
    if (capability.empty()) {
      log::warn("motivator: event " + std::to_string(e.id) + " (" + e.topic +
                ") names no capability; ignored");
      ++result.events_ignored;
      return;
    }
    goal.kind = GoalKind::kCapability;
    goal.theme = theme_of("capability", capability);
    goal.context = {{"capability", capability},
                    {"name", p.value("name", json())},
                    {"attempts", p.value("attempts", json())},
                    {"reasons", p.contains("reasons") && p["reasons"].is_array() ? p["reasons"]
                                                                                 : json::array()},
                    {"episode", episode},
                    {"causes", json::array({{{"event", e.id}, {"run", run}}})}};
    goal.priority = clamp_priority(60 - 10 * goal.chain_depth);
    why = e.topic + " \"" + capability + "\" from run " + run;
  }
  goal.prompt = prompt_for(goal.kind, goal.context);
  result.changes.push_back(place(std::move(goal), why));
}

json Motivator::recent_episodes() {
  json episodes = json::array();
  for (const graph::RunInfo& run : log_.list_runs("", "done", kRunsScannedForEpisodes)) {
    if (!run.input.is_object() || !run.input.contains("task") || !run.input["task"].is_string()) {
      continue;  // not a workflow run
    }
    const std::optional<Goal> goal = goals_.goal_of_run(run.id);
    json episode = {{"run", run.id},
                    {"thread", run.thread_id},
                    {"task", run.input["task"]},
                    {"finished_ms", run.updated_ms},
                    {"goal", goal ? json(goal->id) : json()}};
    add_episode_outcome(log_, run, episode);
    episodes.push_back(std::move(episode));
  }
  return episodes;
}

void Motivator::curiosity(std::int64_t now_ms, PollResult& result) {
  const std::int64_t last = goals_.cursor().curiosity_ms;
  if (last == 0) {  // the timer starts with the first poll, not at the epoch
    goals_.set_curiosity_ms(now_ms);
    return;
  }
  if (now_ms < last + config_.curiosity_interval_seconds * 1000) return;
  // Only episodes of people's runs since the last reflection make a new one worth having;
  // otherwise reflections would reflect on reflections, once an interval, for ever.
  const json all = recent_episodes();
  json chosen = json::array();
  bool news = false;
  for (const json& e : all) {
    if (e["goal"].is_null() && e.value("finished_ms", std::int64_t{0}) > last) news = true;
    if (chosen.size() < static_cast<size_t>(config_.reflection_episodes)) chosen.push_back(e);
  }
  GoalStore::Batch txn(goals_);
  goals_.set_curiosity_ms(now_ms);
  if (news) {
    NewGoal goal;
    goal.kind = GoalKind::kReflection;
    goal.cause_topic = kCuriosityTopic;
    goal.theme = "reflection";
    goal.budget_tokens = config_.goal_budget_tokens;
    goal.priority = 30;
    goal.context = {{"episodes", chosen},
                    {"since_ms", last},
                    {"causes", json::array({{{"timer_ms", now_ms}}})}};
    goal.prompt = reflection_prompt(goal.context);
    result.changes.push_back(
        place(std::move(goal), "curiosity: " + std::to_string(chosen.size()) + " episodes"));
  }
  txn.commit();
}

}  // namespace a4ps::motive
