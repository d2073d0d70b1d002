#include "runtime/evolve_goal.h"

#include <optional>

#include "core/error.h"
#include "graph/node_context.h"

namespace a4ps::runtime {
namespace {

using nlohmann::json;

std::string persona_of(const graph::NodeContext& ctx) {
  const json p = ctx.state().value("persona", json());
  if (!p.is_string()) throw_invalid_argument("an evolve run needs its persona in the input");
  return p.get<std::string>();
}

// The Oracle first judges the finished runs not judged yet (at most kJudgeLimit per goal, so
// that the step is bounded; a cancel stops it after the judgement in hand), so the dataset has
// the golden turns there are. Judgements are stored as they are made: a step re-run after a
// crash or a cancel judges only what is left.
constexpr std::int64_t kJudgeLimit = 20;

graph::Update judge(evolve::StrategicLoop& loop, graph::NodeContext& ctx) {
  const json judged = ctx.once("evolve", [&] {
    const std::stop_token cancel = ctx.cancel();
    const evolve::JudgeReport r = loop.judge("", kJudgeLimit, [cancel](const evolve::Judgement&) {
      if (cancel.stop_requested()) throw Error(ErrorCode::kCancelled, "judging was stopped");
    });
    return json{{"judged", r.judged}, {"golden", r.golden}, {"uncertain", r.uncertain}};
  });
  return graph::Update{{"judged", judged}};
}

graph::Update make_dataset(evolve::StrategicLoop& loop, graph::NodeContext& ctx) {
  const std::string persona = persona_of(ctx);
  const json dataset = ctx.once("evolve", [&] {
    const evolve::DatasetBuild b = loop.make_dataset(persona);
    return json{{"version", b.record.version},
                {"n_train", b.record.n_train},
                {"n_held_out", b.record.n_held_out}};
  });
  return graph::Update{{"dataset", dataset}};
}

graph::Update train(evolve::StrategicLoop& loop, graph::NodeContext& ctx) {
  const std::string persona = persona_of(ctx);
  const std::int64_t dataset = ctx.state()["dataset"].value("version", std::int64_t{0});
  const json candidate = ctx.once("evolve", [&] {
    const std::stop_token cancel = ctx.cancel();
    const evolve::AdapterRecord r =
        loop.train(persona, dataset,
                   [cancel](const evolve::TrainProgress&) { return !cancel.stop_requested(); });
    return json{
        {"version", r.version}, {"trainer", r.trainer}, {"held_out_losses", r.held_out_losses}};
  });
  return graph::Update{{"candidate", candidate}};
}

graph::Update gate(evolve::StrategicLoop& loop, graph::NodeContext& ctx) {
  const std::string persona = persona_of(ctx);
  const std::int64_t version = ctx.state()["candidate"].value("version", std::int64_t{0});
  const json decision =
      ctx.once("evolve", [&] { return evolve::to_json(loop.adopt(persona, version)); });
  const std::string verb = decision.value("action", "") == "adopt" ? "adopted" : "rejected";
  return graph::Update{{"decision", decision},
                       {"answer", persona + " v" + std::to_string(version) + ": " + verb + " — " +
                                      decision.value("reason", "")}};
}

}  // namespace

graph::CompiledGraph evolve_graph(evolve::StrategicLoop& loop) {
  graph::StateGraph g;
  g.set_name(std::string(kEvolveGraphName));
  for (const char* channel : {"persona", "judged", "dataset", "candidate", "decision", "answer"}) {
    g.add_channel(channel, graph::Reducer::kReplace);
  }
  g.add_node("judge", {"judged"}, [&loop](graph::NodeContext& ctx) { return judge(loop, ctx); })
      .add_node("dataset", {"dataset"},
                [&loop](graph::NodeContext& ctx) { return make_dataset(loop, ctx); })
      .add_node("train", {"candidate"},
                [&loop](graph::NodeContext& ctx) { return train(loop, ctx); })
      .add_node("gate", {"decision", "answer"},
                [&loop](graph::NodeContext& ctx) { return gate(loop, ctx); })
      .add_edge("judge", "dataset")
      .add_edge("dataset", "train")
      .add_edge("train", "gate")
      .add_edge("gate", std::string(graph::kEnd))
      .set_entry_point("judge");
  return g.compile();
}

json evolve_input(const std::string& persona) {
  return {{"persona", persona}};
}

std::vector<motive::Goal> queue_evolve_goals(motive::GoalStore& goals, evolve::StrategicLoop& loop,
                                             const Config& config) {
  std::vector<motive::Goal> made;
  for (const Persona& p : loop.codex().personas()) {
    const std::int64_t fresh = loop.store().golden_since_last_dataset(p.id);
    if (fresh < config.evolve.min_examples) continue;
    const auto newest = loop.store().judgements(p.id, /*golden_only=*/true, 1);
    if (newest.empty()) continue;
    const std::string theme = "evolve:" + p.id + ":" + std::to_string(newest.front().id);
    const std::string prompt = "Make " + p.name + "'s next dataset from " + std::to_string(fresh) +
                               " new golden turns, train a candidate LoRA adapter on it, and let "
                               "the gate decide whether " +
                               p.name + " uses it";
    const json context = {{"persona", p.id},
                          {"golden_since_last_dataset", fresh},
                          {"newest_judgement", newest.front().id},
                          {"causes", json::array({"golden turns"})}};
    bool known = false;
    std::optional<motive::Goal> open;  // one open evolve goal per persona: newer turns merge in
    for (const motive::Goal& g : goals.list({std::nullopt, 1000})) {
      if (g.kind != motive::GoalKind::kEvolve || g.context.value("persona", "") != p.id) continue;
      known = known || g.theme == theme;
      const bool is_open = g.status == motive::GoalStatus::kQueued ||
                           g.status == motive::GoalStatus::kPaused ||
                           g.status == motive::GoalStatus::kRunning;
      if (is_open && !open) open = g;
    }
    if (known) continue;
    if (open) {
      if (open->status != motive::GoalStatus::kRunning) goals.merge(open->id, prompt, context, 30);
      continue;
    }
    motive::NewGoal goal;
    goal.kind = motive::GoalKind::kEvolve;
    goal.theme = theme;
    goal.prompt = prompt;
    goal.context = context;
    goal.priority = 30;
    goal.budget_tokens = config.motivator.goal_budget_tokens;
    made.push_back(goals.create(goal));
  }
  return made;
}

}  // namespace a4ps::runtime
