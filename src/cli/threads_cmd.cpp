// a4ps threads list|show|history|fork, a4ps runs list|show
#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/runtime_access.h"
#include "core/error.h"

namespace a4ps::cli {
namespace {

using graph::CheckpointInfo;
using graph::RunInfo;
using graph::ThreadInfo;
using nlohmann::json;

std::string local_time(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
  return out.str();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? "-" : out;
}

// Columns as wide as their widest cell, two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

json thread_json(const ThreadInfo& t, const std::optional<RunInfo>& last_run) {
  json out = {{"id", t.id},
              {"graph", t.graph},
              {"checkpoints", t.last_checkpoint + 1},
              {"created_ms", t.created_ms},
              {"updated_ms", t.updated_ms},
              {"metadata", t.metadata}};
  if (!t.parent_thread.empty()) {
    out["forked_from"] = {{"thread", t.parent_thread}, {"checkpoint", *t.parent_checkpoint}};
  }
  if (last_run) out["last_run"] = {{"id", last_run->id}, {"status", last_run->status}};
  return out;
}

json checkpoint_json(const CheckpointInfo& c) {
  return {{"id", c.id},
          {"parent", c.parent ? json(*c.parent) : json()},
          {"run", c.run_id.empty() ? json() : json(c.run_id)},
          {"step", c.step},
          {"pending", c.pending},
          {"metadata", c.metadata},
          {"created_ms", c.created_ms}};
}

json run_json(const RunInfo& r) {
  json out = {{"id", r.id},
              {"thread", r.thread_id},
              {"status", r.status},
              {"steps", r.steps},
              {"input", r.input},
              {"pid", r.pid},
              {"created_ms", r.created_ms},
              {"updated_ms", r.updated_ms}};
  if (!r.error.empty()) out["error"] = {{"node", r.error_node}, {"message", r.error}};
  return out;
}

json interrupts_json(const std::vector<graph::PendingInterrupt>& pending) {
  json out = json::array();
  for (const auto& p : pending) {
    out.push_back(
        {{"id", p.id}, {"node", p.node}, {"checkpoint", p.checkpoint}, {"payload", p.payload}});
  }
  return out;
}

std::optional<RunInfo> last_run_of(graph::Checkpointer& cp, const std::string& thread) {
  auto runs = cp.list_runs(thread, "", 1);
  if (runs.empty()) return std::nullopt;
  return runs.front();
}

void list_threads(const GlobalOptions& options, bool as_json) {
  auto cp = open_image_for_reading(options);
  json all = json::array();
  for (const ThreadInfo& t : cp->list_threads())
    all.push_back(thread_json(t, last_run_of(*cp, t.id)));
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return;
  }
  if (all.empty()) {
    std::cout << "no threads yet (a run creates one; try: a4ps graph check)\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"THREAD", "GRAPH", "CHECKPOINTS", "LAST RUN", "STATUS", "UPDATED"}};
  for (const json& t : all) {
    const bool has_run = t.contains("last_run");
    rows.push_back({t["id"], t["graph"], std::to_string(t["checkpoints"].get<int64_t>()),
                    has_run ? t["last_run"]["id"].get<std::string>() : "-",
                    has_run ? t["last_run"]["status"].get<std::string>() : "-",
                    local_time(t["updated_ms"])});
  }
  print_table(rows);
}

void show_thread(const GlobalOptions& options, const std::string& id, bool as_json) {
  auto cp = open_image_for_reading(options);
  const ThreadInfo t = cp->get_thread(id);
  json out = thread_json(t, last_run_of(*cp, id));
  if (t.last_checkpoint >= 0) {
    const graph::Checkpoint latest = cp->load(id);
    out["checkpoint"] = checkpoint_json(latest.info);
    out["state"] = latest.state;
  }
  out["interrupts"] = interrupts_json(cp->pending_interrupts(id));
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "thread " << t.id << " (graph " << t.graph << ")\n  created "
            << local_time(t.created_ms) << ", updated " << local_time(t.updated_ms) << "\n";
  if (!t.parent_thread.empty()) {
    std::cout << "  forked from " << t.parent_thread << " at checkpoint " << *t.parent_checkpoint
              << "\n";
  }
  if (out.contains("last_run")) {
    std::cout << "  last run " << out["last_run"]["id"].get<std::string>() << ": "
              << out["last_run"]["status"].get<std::string>() << "\n";
  }
  if (out.contains("checkpoint")) {
    std::cout << "  checkpoint " << t.last_checkpoint
              << ", pending: " << joined(out["checkpoint"]["pending"]) << "\n";
  }
  for (const json& i : out["interrupts"]) {
    std::cout << "  waiting for interrupt " << i["id"].get<std::string>() << ": "
              << i["payload"].dump()
              << "\n    answer with: " << a4ps_command(options, "resume " + id) << " --interrupt "
              << i["id"].get<std::string>() << " --value JSON\n";
  }
  if (out.contains("state")) std::cout << "state:\n" << out["state"].dump(2) << "\n";
}

void show_history(const GlobalOptions& options, const std::string& id, bool as_json) {
  auto cp = open_image_for_reading(options);
  json all = json::array();
  for (const CheckpointInfo& c : cp->history(id)) all.push_back(checkpoint_json(c));
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STEP", "RUN", "SOURCE", "WRITERS", "PENDING", "TIME"}};
  for (const json& c : all) {
    const json& meta = c["metadata"];
    std::vector<std::string> writers;
    if (meta.contains("writers")) writers = meta["writers"].get<std::vector<std::string>>();
    rows.push_back({std::to_string(c["id"].get<int64_t>()), std::to_string(c["step"].get<int>()),
                    c["run"].is_null() ? "-" : c["run"].get<std::string>(),
                    meta.value("source", "-"), joined(writers), joined(c["pending"]),
                    local_time(c["created_ms"])});
  }
  print_table(rows);
}

json parse_json_option(const std::string& text, const std::string& option) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw_invalid_argument(option + " " + text + ": not valid JSON (" + e.what() + ")");
  }
}

struct ForkArgs {
  std::string thread;
  std::int64_t checkpoint = -1;
  std::string update;
  std::string new_id;
  bool json = false;
};

void fork_thread(const GlobalOptions& options, const ForkArgs& args) {
  const json update = args.update.empty() ? json() : parse_json_option(args.update, "--update");
  const std::unique_ptr<runtime::Runtime> rt = open_runtime(options);
  const std::optional<std::int64_t> at =
      args.checkpoint < 0 ? std::nullopt : std::optional<std::int64_t>(args.checkpoint);
  const ThreadInfo made = rt->checkpointer().fork(args.thread, at, update, args.new_id);
  if (args.json) {
    std::cout << thread_json(made, std::nullopt).dump(2) << "\n";
    return;
  }
  std::cout << "forked " << args.thread << " at checkpoint " << *made.parent_checkpoint
            << " into thread " << made.id
            << "\ncontinue it with: " << a4ps_command(options, "resume " + made.id) << "\n";
}

void list_runs(const GlobalOptions& options, const std::string& thread, const std::string& status,
               int limit, bool as_json) {
  auto cp = open_image_for_reading(options);
  json all = json::array();
  for (const RunInfo& r : cp->list_runs(thread, status, limit)) all.push_back(run_json(r));
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return;
  }
  if (all.empty()) {
    std::cout << "no runs\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"RUN", "THREAD", "STATUS", "STEPS", "STARTED"}};
  for (const json& r : all) {
    rows.push_back({r["id"], r["thread"], r["status"], std::to_string(r["steps"].get<int>()),
                    local_time(r["created_ms"])});
  }
  print_table(rows);
}

void show_run(const GlobalOptions& options, const std::string& id, std::int64_t after,
              bool with_events, bool as_json) {
  auto cp = open_image_for_reading(options);
  json out = run_json(cp->get_run(id));
  if (with_events) {
    out["events"] = json::array();
    for (const graph::EventRecord& e : cp->events(id, after)) {
      out["events"].push_back(
          {{"seq", e.seq}, {"ts_ms", e.ts_ms}, {"kind", e.kind}, {"data", e.data}});
    }
  }
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "run " << id << " on thread " << out["thread"].get<std::string>() << ": "
            << out["status"].get<std::string>() << " after " << out["steps"].get<int>()
            << " steps\n  started " << local_time(out["created_ms"]) << ", updated "
            << local_time(out["updated_ms"]) << " (pid " << out["pid"].get<int64_t>() << ")\n";
  if (out.contains("error")) {
    std::cout << "  failed at " << out["error"]["node"].get<std::string>() << ": "
              << out["error"]["message"].get<std::string>() << "\n";
  }
  if (!with_events) return;
  std::vector<std::vector<std::string>> rows = {{"SEQ", "KIND", "DATA"}};
  for (const json& e : out["events"]) {
    rows.push_back({std::to_string(e["seq"].get<int64_t>()), e["kind"], e["data"].dump()});
  }
  print_table(rows);
}

}  // namespace

void add_thread_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* threads = app.add_subcommand(
      "threads", "Inspect threads (a graph's line of checkpointed history) and fork them");
  threads->require_subcommand(1);
  auto as_json = std::make_shared<bool>(false);
  auto id = std::make_shared<std::string>();

  CLI::App* list = threads->add_subcommand("list", "List the image's threads, newest first");
  list->add_flag("--json", *as_json, "Print JSON");
  list->callback([&options, as_json] { list_threads(options, *as_json); });

  CLI::App* show = threads->add_subcommand(
      "show", "Show a thread: its latest checkpoint, state and pending interrupts");
  show->add_option("thread", *id, "Thread id")->required();
  show->add_flag("--json", *as_json, "Print JSON");
  show->callback([&options, id, as_json] { show_thread(options, *id, *as_json); });

  CLI::App* history = threads->add_subcommand(
      "history", "List a thread's checkpoints: one per super-step, with what wrote it");
  history->add_option("thread", *id, "Thread id")->required();
  history->add_flag("--json", *as_json, "Print JSON");
  history->callback([&options, id, as_json] { show_history(options, *id, *as_json); });

  auto fork_args = std::make_shared<ForkArgs>();
  CLI::App* fork = threads->add_subcommand(
      "fork",
      "Start a new thread from any checkpoint of a thread (time travel), optionally changing "
      "its state; continue it with a4ps resume. The original thread is not touched");
  fork->add_option("thread", fork_args->thread, "Thread to fork")->required();
  fork->add_option("--checkpoint", fork_args->checkpoint,
                   "Checkpoint id to fork from (default: the latest; see threads history)")
      ->check(at_least(0));
  fork->add_option("--update", fork_args->update,
                   "A JSON object of channels folded into the state by their reducers, e.g. "
                   "'{\"draft\": \"...\"}'");
  fork->add_option("--as", fork_args->new_id, "Id of the new thread (default: generated)");
  fork->add_flag("--json", fork_args->json, "Print JSON");
  fork->callback([&options, fork_args] { fork_thread(options, *fork_args); });

  CLI::App* runs = app.add_subcommand("runs", "Inspect runs and their persisted event streams");
  runs->require_subcommand(1);
  auto thread = std::make_shared<std::string>();
  auto status = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(50);
  CLI::App* rlist = runs->add_subcommand("list", "List runs, newest first");
  rlist->add_option("--thread", *thread, "Only this thread's runs");
  rlist->add_option("--status", *status, "Only runs with this status")
      ->check(CLI::IsMember(
          {"running", "interrupted", "done", "error", "cancelled", "step_limit", "crashed"}));
  rlist->add_option("--limit", *limit, "At most this many")->check(at_least(1));
  rlist->add_flag("--json", *as_json, "Print JSON");
  rlist->callback([&options, thread, status, limit, as_json] {
    list_runs(options, *thread, *status, *limit, *as_json);
  });

  auto events = std::make_shared<bool>(false);
  auto after = std::make_shared<std::int64_t>(0);
  CLI::App* rshow = runs->add_subcommand("show", "Show a run, and with --events its event stream");
  rshow->add_option("run", *id, "Run id")->required();
  rshow->add_flag("--events", *events, "Print the run's events");
  rshow
      ->add_option("--after", *after,
                   "With --events: only events after this sequence number (continue a stream)")
      ->check(at_least(0));
  rshow->add_flag("--json", *as_json, "Print JSON");
  rshow->callback([&options, id, after, events, as_json] {
    show_run(options, *id, *after, *events || *after > 0, *as_json);
  });
}

}  // namespace a4ps::cli
