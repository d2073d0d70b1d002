// a4ps goals list|show|add|pause|resume|cancel|run-next, a4ps live: the goals A4PS set itself
// (docs/formats/goals.md) and the autonomous loop that pursues them (runtime/living_loop.h).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "runtime/living_loop.h"

namespace a4ps::cli {
namespace {

using motive::Goal;
using motive::GoalStore;
using nlohmann::json;

struct GoalsArgs {
  std::string status;
  int limit = 50;
  std::int64_t id = 0;
  std::string prompt;
  int priority = 50;
  bool json = false;
};

std::string one_line(std::string text, size_t width) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return utf8_prefix(text, width);
}

void print_goal_line(const Goal& g) {
  std::printf("%-5lld %-10s %-9s %3d  %-18s %s\n", static_cast<long long>(g.id),
              std::string(motive::goal_kind_name(g.kind)).c_str(),
              std::string(motive::goal_status_name(g.status)).c_str(), g.priority,
              g.thread_id.empty() ? "-" : g.thread_id.c_str(), one_line(g.prompt, 70).c_str());
}

void print_goal(const Goal& g, GoalStore& goals) {
  std::printf("goal %lld: %s, %s, priority %d, chain depth %d, attempts %d\n",
              static_cast<long long>(g.id), std::string(motive::goal_kind_name(g.kind)).c_str(),
              std::string(motive::goal_status_name(g.status)).c_str(), g.priority, g.chain_depth,
              g.attempts);
  std::printf(
      "why: %s%s\n", g.cause_topic.empty() ? "a person added it" : g.cause_topic.c_str(),
      g.merged > 0 ? (" (and " + std::to_string(g.merged) + " more causes merged)").c_str() : "");
  std::printf("prompt: %s\n", g.prompt.c_str());
  if (!g.thread_id.empty())
    std::printf("ran as: run %s on thread %s\n", g.run_id.c_str(), g.thread_id.c_str());
  if (!g.result.empty()) std::printf("result: %s\n", g.result.c_str());
  for (const motive::GoalRun& r : goals.runs_of(g.id)) {
    std::printf("  attempt %d: run %s on %s%s\n", r.attempt, r.run_id.c_str(), r.thread_id.c_str(),
                r.outcome.empty() ? " (going on)" : (": " + r.outcome).c_str());
  }
  std::printf("context: %s\n", g.context.dump(2).c_str());
}

void print_or_json(const Goal& g, bool as_json, const char* verb) {
  if (as_json) {
    std::cout << g.to_json().dump() << "\n";
  } else {
    const std::string status(motive::goal_status_name(g.status));
    std::printf("goal %lld %s%s\n", static_cast<long long>(g.id), verb,
                status == verb ? "" : (" (now " + status + ")").c_str());
  }
}

// The image's goals, without taking its lock: a person can look at and steer the goals while
// `a4ps live` or `a4ps serve` holds the image (SQLite lets both write; the loop sees a pause
// or a cancel at its run's next step).
std::unique_ptr<GoalStore> open_goals(const GlobalOptions& options) {
  open_image_for_reading(options);  // says so clearly when there is no image
  return GoalStore::open(selected_image_dir(options) / "state.db");
}

void list_goals(const GlobalOptions& options, const GoalsArgs& args) {
  const auto store = open_goals(options);
  motive::GoalFilter filter;
  if (!args.status.empty()) filter.status = motive::goal_status_from_name(args.status);
  filter.limit = args.limit;
  const std::vector<Goal> goals = store->list(filter);
  if (args.json) {
    json out = json::array();
    for (const Goal& g : goals) out.push_back(g.to_json());
    std::cout << out.dump() << "\n";
    return;
  }
  if (goals.empty()) {
    std::printf("no goals%s\n", args.status.empty() ? "" : (" " + args.status).c_str());
    return;
  }
  std::printf("%-5s %-10s %-9s %3s  %-18s %s\n", "id", "kind", "status", "pri", "thread", "prompt");
  for (const Goal& g : goals) print_goal_line(g);
}

void goal_action(const GlobalOptions& options, const GoalsArgs& args, const std::string& action) {
  const auto store = open_goals(options);
  GoalStore& goals = *store;
  if (action == "show") {
    const Goal g = goals.get(args.id);
    if (args.json) {
      json out = g.to_json();
      out["runs"] = json::array();
      for (const motive::GoalRun& r : goals.runs_of(g.id)) {
        out["runs"].push_back({{"attempt", r.attempt},
                               {"thread", r.thread_id},
                               {"run", r.run_id},
                               {"started_ms", r.started_ms},
                               {"outcome", r.outcome}});
      }
      std::cout << out.dump() << "\n";
    } else {
      print_goal(g, goals);
    }
  } else if (action == "pause") {
    print_or_json(goals.pause(args.id), args.json, "paused");
  } else if (action == "resume") {
    print_or_json(goals.resume(args.id), args.json, "resumed");
  } else if (action == "cancel") {
    print_or_json(goals.cancel(args.id), args.json, "cancelled");
  }
}

void add_goal(const GlobalOptions& options, const GoalsArgs& args) {
  if (args.prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid_argument("the goal's prompt is empty; say what A4PS should work on");
  }
  const auto rt = open_runtime(options);
  runtime::LivingLoop loop(*rt);
  print_or_json(loop.add_user_goal(checked_utf8(args.prompt, "the goal's prompt"), args.priority),
                args.json, "queued");
}

void run_next(const GlobalOptions& options, const GoalsArgs& args) {
  const auto rt = open_runtime(options);
  rt->on_load_progress(load_progress_printer());
  runtime::LivingLoop loop(*rt);
  if (!args.json) loop.on_event(workflow_printer());
  const runtime::LoopPass pass = loop.run_once(/*force=*/true);
  if (!pass.goal) {
    if (args.json) {
      std::cout << json{{"goal", nullptr}, {"reason", pass.reason}}.dump() << "\n";
    } else {
      std::printf("nothing to run: %s\n", pass.reason.c_str());
    }
    return;
  }
  if (args.json) {
    std::cout << json{{"goal", pass.goal->to_json()}, {"outcome", pass.outcome}}.dump() << "\n";
  } else {
    std::printf("\ngoal %lld: %s\n", static_cast<long long>(pass.goal->id), pass.outcome.c_str());
    if (!pass.goal->result.empty()) std::printf("%s\n", pass.goal->result.c_str());
  }
}

// SIGINT and SIGTERM wake `a4ps live` through a pipe: it sleeps in read(), with no polling.
int g_wake_pipe[2] = {-1, -1};

extern "C" void on_live_signal(int) {
  const char byte = 1;
  const ssize_t ignored = write(g_wake_pipe[1], &byte, 1);
  (void)ignored;
}

void live(const GlobalOptions& options, const std::string& record) {
  const auto rt = open_runtime(options);
  if (!record.empty()) rt->record_to(record);
  if (!rt->config().motivator.autonomous) {
    throw Error(ErrorCode::kFailedPrecondition,
                "the autonomous loop is off: [motivator] autonomous = false in " +
                    rt->config().source +
                    "; set it to true to let A4PS pursue its goals by itself, or run one with: " +
                    a4ps_command(options, "goals run-next"));
  }
  if (pipe(g_wake_pipe) != 0) throw Error(ErrorCode::kInternal, "live: pipe() failed");
  std::signal(SIGINT, on_live_signal);
  std::signal(SIGTERM, on_live_signal);
  // What the loop does by itself is shown: goals made, started, finished (logged at info).
  if (!log::enabled(log::Level::kInfo)) log::set_level(log::Level::kInfo);
  runtime::LivingLoop loop(*rt);
  loop.start();
  const MotivatorConfig& m = rt->config().motivator;
  std::fprintf(stderr,
               "a4ps live: pursuing goals when idle for %llds (at most %lld an hour, %lld runs a "
               "day); Ctrl-C stops, runs in flight stay resumable\n",
               static_cast<long long>(m.idle_seconds), static_cast<long long>(m.max_goals_per_hour),
               static_cast<long long>(m.max_autonomous_runs_per_day));
  char byte = 0;
  while (read(g_wake_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  std::fprintf(stderr, "a4ps live: stopping; a goal's run in flight stays resumable\n");
  loop.stop();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace

void add_goals_commands(CLI::App& app, const GlobalOptions& options) {
  auto args = std::make_shared<GoalsArgs>();
  CLI::App* goals = app.add_subcommand(
      "goals",
      "The goals A4PS sets itself (a synthesis for a dissonance, a reflection on recent "
      "episodes, a capability the forge could not build) and those a person queues; see "
      "docs/formats/goals.md");
  goals->require_subcommand(1);
  CLI::App* list = goals->add_subcommand(
      "list", "The goals, newest first (with --status queued: in the order they run)");
  list->add_option("--status", args->status,
                   "Only goals with this status: queued, running, paused, done, failed, "
                   "cancelled, expired");
  list->add_option("--limit", args->limit, "At most this many")->check(at_least(1));
  list->add_flag("--json", args->json, "One JSON array");
  list->callback([&options, args] { list_goals(options, *args); });
  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"show", "A goal: why it exists, its runs, what it produced"},
           {"pause",
            "Keep a queued or running goal from running (a running one stops at its "
            "next step)"},
           {"resume", "Queue a paused goal again"},
           {"cancel", "Give up a goal for good"}}) {
    CLI::App* sub = goals->add_subcommand(name, help);
    sub->add_option("id", args->id, "Goal id (see: a4ps goals list)")
        ->required()
        ->check(at_least(1));
    sub->add_flag("--json", args->json, "Print the goal as JSON");
    sub->callback([&options, args, name = name] { goal_action(options, *args, name); });
  }
  CLI::App* add = goals->add_subcommand("add", "Queue a goal of your own");
  add->add_option("prompt", args->prompt, "What A4PS should work on")->required();
  add->add_option("--priority", args->priority, "0 to 100, higher runs first (default 50)")
      ->check(CLI::Range(0, 100));
  add->add_flag("--json", args->json, "Print the goal as JSON");
  add->callback([&options, args] { add_goal(options, *args); });
  CLI::App* next = goals->add_subcommand(
      "run-next", "Run the best queued goal now, in the foreground, whatever the loop's limits");
  next->add_flag("--json", args->json, "Print one JSON result instead of the transcript");
  next->callback([&options, args] { run_next(options, *args); });

  CLI::App* live_cmd = app.add_subcommand(
      "live",
      "The autonomous loop without HTTP, for a headless machine: new events become goals, and "
      "when nobody has used the image for [motivator] idle_seconds the best goal runs, within "
      "the hourly and daily limits. Needs [motivator] autonomous = true. Ctrl-C or SIGTERM "
      "stops it; a goal's run in flight stays resumable and resumes at the next start");
  auto record = std::make_shared<std::string>();
  live_cmd->add_option("--record", *record,
                       "Append every model request and response of the goals' runs to this "
                       "JSONL file (docs/formats/replay.md)");
  live_cmd->callback([&options, record] { live(options, *record); });
}

}  // namespace a4ps::cli
