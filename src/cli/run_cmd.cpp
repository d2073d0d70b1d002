// a4ps run "task" [--thread ID] [--doc FILE...] [--json]
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "runtime/living_loop.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

constexpr std::uintmax_t kMaxDocBytes = 4u << 20;

std::string what_node_does(const std::string& node) {
  static const std::map<std::string, std::string> says = {
      {"alfred_route", "ALFRED routes the task"},
      {"babs_research", "BABS researches"},
      {"brick_tools", "BRICK considers his tools"},
      {"brick_propose", "BRICK proposes candidate thoughts"},
      {"robin_evaluate", "ROBIN scores the candidates"},
      {"tot_select", "the search keeps the best thoughts"},
      {"robin_respond", "ROBIN answers"},
      {"brick_respond", "BRICK answers"},
      {"alfred_answer", "ALFRED writes the final answer"},
      {"alfred_judge", "ALFRED judges the conflict"},
      {"dissonance", "dissonance"}};
  const auto it = says.find(node);
  return it == says.end() ? node : it->second;
}

std::string two_places(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

// Prints the workflow's events as a transcript on stdout: each persona's turn under its name,
// the Tree-of-Thoughts candidates with ROBIN's scores, the decisions and the dissonance.
class WorkflowPrinter {
 public:
  void operator()(const graph::EventRecord& e) {
    const json& d = e.data;
    if (e.kind == "node_started") {
      part_.clear();
      std::printf("\n── %s (step %d)\n", what_node_does(d.value("node", "")).c_str(),
                  d.value("step", 0));
    } else if (e.kind == "token") {
      const std::string part = d.value("part", "");
      if (part != part_) {
        std::printf("\n  [%s] ", part.c_str());
        part_ = part;
      }
      std::fputs(d.value("text", "").c_str(), stdout);
    } else if (e.kind == "node_finished") {
      finished(d.value("node", ""), d.value("update", json::object()));
    } else if (e.kind == "error") {
      std::printf("\n  %s failed: %s\n", d.value("node", "").c_str(),
                  d.value("message", "").c_str());
    }
    std::fflush(stdout);
  }

 private:
  void finished(const std::string& node, const json& update) {
    if (!part_.empty() || node_streams(node)) std::printf("\n");
    part_.clear();
    if (node == "alfred_route" && update.contains("route")) {
      const json& r = update["route"];
      std::printf(
          "  research: %s; plan: %s%s\n", r.value("research", false) ? "yes" : "no",
          r.value("plan", "").c_str(),
          r.value("default_used", false) ? " (safe default: the decision was unusable)" : "");
    } else if (node == "brick_tools" && update.contains("tools")) {
      if (update["tools"].empty()) std::printf("  no tool needed\n");
      for (const json& t : update["tools"]) print_tool_record(t);
    } else if (node == "robin_evaluate" && update.contains("tot")) {
      for (const json& c : update["tot"]["candidates"]) {
        std::printf("  %-6s score %s  %s\n", c.value("id", "").c_str(),
                    two_places(c.value("score", 0.0)).c_str(), c.value("critique", "").c_str());
      }
    } else if (node == "tot_select" && update.contains("tot")) {
      const json& notes = update["tot"]["notes"];
      if (!notes.empty()) std::printf("  %s\n", notes.back().get<std::string>().c_str());
    } else if (node == "alfred_judge" && update.contains("judgement")) {
      const json& j = update["judgement"];
      std::printf("  conflict %s: %s\n", two_places(j.value("score", 0.0) / 100.0).c_str(),
                  j.value("reason", "").c_str());
    } else if (node == "dissonance" && update.contains("dissonance")) {
      const json& x = update["dissonance"];
      std::printf("  %s (embedding distance %s by %s, judged %s)%s\n",
                  two_places(x.value("score", 0.0)).c_str(),
                  two_places(x.value("embedding_distance", 0.0)).c_str(),
                  x.value("embedder", "").c_str(), two_places(x.value("judged", 0.0)).c_str(),
                  x.value("published", false)
                      ? ": over the threshold, COGNITIVE_DISSONANCE published"
                      : "");
    }
  }

  static void print_tool_record(const json& t) {
    if (t.value("kind", "") == "forge") {
      if (t.value("created", false)) {
        std::printf("  forged tool %s (version %d) in %d attempt(s) for: %s\n",
                    t.value("name", "").c_str(), t.value("version", 0), t.value("attempts", 0),
                    t.value("capability", "").c_str());
      } else {
        std::printf("  the forge gave up on \"%s\" after %d attempt(s): %s\n",
                    t.value("capability", "").c_str(), t.value("attempts", 0),
                    t.value("reason", "").substr(0, 300).c_str());
      }
      return;
    }
    const std::string call = t.value("tool", "") + "(" + t.value("arguments", json()).dump() + ")";
    if (t.value("ok", false)) {
      std::printf("  %s -> %s\n", call.c_str(), t["result"].dump().substr(0, 500).c_str());
    } else {
      std::printf("  %s failed: %s\n", call.c_str(), t.value("problem", "").substr(0, 300).c_str());
    }
  }

  static bool node_streams(const std::string& node) {
    return node == "babs_research" || node == "brick_propose" || node == "robin_respond" ||
           node == "brick_respond" || node == "alfred_answer";
  }

  std::string part_;
};

std::vector<persona::Document> read_documents(const std::vector<std::string>& paths) {
  std::vector<persona::Document> docs;
  for (const std::string& path : paths) {
    const std::string label = "--doc " + path;
    require_regular_file(path, label, "a text file");
    std::error_code ec;
    if (std::filesystem::file_size(path, ec) > kMaxDocBytes) {
      throw Error(ErrorCode::kResourceExhausted,
                  label +
                      ": larger than 4 MiB; put it in the image's memory with `a4ps memory "
                      "import " +
                      path + "`, which BABS searches on every run");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string content = text.str();
    if (content.find('\0') != std::string::npos) {
      throw_invalid_argument(label + ": not a text file (it contains NUL bytes)");
    }
    docs.push_back({std::filesystem::path(path).filename().string(), checked_utf8(content, label)});
  }
  return docs;
}

struct RunArgs {
  std::string task;
  std::string thread;
  std::vector<std::string> docs;
  std::string record;
  bool json = false;
};

}  // namespace

void print_workflow_result(const graph::RunResult& r, bool as_json, const GlobalOptions& options) {
  const json& s = r.state;
  const std::string resume = a4ps_command(options, "resume " + r.thread_id);
  if (as_json) {
    json out = {{"run", r.run_id},
                {"thread", r.thread_id},
                {"status", graph::run_status_name(r.status)},
                {"steps", r.steps},
                {"answer", s.value("answer", json())},
                {"dissonance", s.value("dissonance", json())},
                {"route", s.value("route", json())},
                {"report", s.value("report", json())},
                {"tot", s.value("tot", json())},
                {"dialogue", s.value("dialogue", json())},
                {"judgement", s.value("judgement", json())}};
    if (r.status == graph::RunStatus::kError) {
      out["error"] = {{"node", r.failed_node}, {"message", r.error}};
    }
    std::cout << out.dump(2) << "\n";
  } else if (r.status == graph::RunStatus::kDone) {
    std::printf("\n══ Answer\n%s\n\n", s.value("answer", "").c_str());
    const json& x = s["dissonance"];
    std::printf("dissonance %s (threshold %s); thread %s, run %s\n",
                two_places(x.value("score", 0.0)).c_str(),
                two_places(x.value("threshold", 0.0)).c_str(), r.thread_id.c_str(),
                r.run_id.c_str());
  } else if (r.status != graph::RunStatus::kCancelled && r.status != graph::RunStatus::kError) {
    std::printf("\nrun %s on thread %s: %s after %d steps; continue with: %s\n", r.run_id.c_str(),
                r.thread_id.c_str(), std::string(graph::run_status_name(r.status)).c_str(), r.steps,
                resume.c_str());
  }
  throw_unless_finished(r, resume);
}

void throw_unless_finished(const graph::RunResult& r, const std::string& resume) {
  if (r.status == graph::RunStatus::kError) {
    // A server that does not answer keeps its own exit code (4), so scripts can wait and retry.
    const ErrorCode code = r.error_code == ErrorCode::kUnavailable ? ErrorCode::kUnavailable
                                                                   : ErrorCode::kFailedPrecondition;
    throw Error(code, "run " + r.run_id + " failed at " + r.failed_node + ": " + r.error +
                          "; once the cause is fixed, continue with: " + resume);
  }
  if (r.status == graph::RunStatus::kCancelled) {
    throw Error(ErrorCode::kCancelled, "run " + r.run_id + " on thread " + r.thread_id +
                                           " was cancelled after " + std::to_string(r.steps) +
                                           " steps; continue with: " + resume);
  }
}

namespace {

// What the run published (its dissonance, a tool the forge could not build) becomes goals now,
// so `a4ps goals list` shows them at once.
void queue_goals_of_the_run(runtime::Runtime& rt) {
  try {
    runtime::LivingLoop(rt).poll();
  } catch (const Error& e) {
    log::warn(std::string("the run's events could not become goals yet: ") + e.what());
  }
}

void run_task(const GlobalOptions& options, const RunArgs& args) {
  if (args.task.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid_argument("the task is empty; say what the personas should work on");
  }
  const std::string task = checked_utf8(args.task, "the task");
  const std::vector<persona::Document> docs = read_documents(args.docs);
  const std::unique_ptr<runtime::Runtime> rt = open_runtime(options);
  rt->on_load_progress(load_progress_printer());
  if (!args.record.empty()) rt->record_to(args.record);
  rt->check_models_reachable();  // a server that is down: say so, and leave no failed run
  const graph::CompiledGraph workflow = rt->graph(std::string(persona::kWorkflowGraphName));
  graph::RunOptions run = rt->run_options();
  if (!args.json) run.on_event = WorkflowPrinter();
  CancelOnCtrlC ctrl_c;
  run.cancel = ctrl_c.token();
  const graph::RunResult result = graph::start_run(workflow, rt->checkpointer(), args.thread,
                                                   persona::workflow_input(task, docs), run);
  queue_goals_of_the_run(*rt);
  print_workflow_result(result, args.json, options);
}

}  // namespace

std::function<void(const graph::EventRecord&)> workflow_printer() {
  return WorkflowPrinter();
}

void add_run_command(CLI::App& app, const GlobalOptions& options) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand(
      "run",
      "Run a task through the four personas: ALFRED routes it, BABS researches when asked, "
      "BRICK and ROBIN argue a Tree of Thoughts and a dialogue, ALFRED answers and judges the "
      "conflict, and the dissonance is measured. Every step is checkpointed in the image: "
      "Ctrl-C stops at the next step, and a4ps resume THREAD continues");
  run->add_option("task", args->task, "What the personas should work on")->required();
  run->add_option("--thread", args->thread,
                  "Run on this thread (new or existing; earlier runs on it are BABS's sources)");
  run->add_option("--doc", args->docs, "A text or Markdown file BABS may cite (repeatable)");
  run->add_option("--record", args->record,
                  "Append every model request and response to this JSONL file "
                  "(docs/formats/replay.md)");
  run->add_flag("--json", args->json, "Print one JSON result instead of the transcript");
  run->callback([&options, args] { run_task(options, *args); });
}

}  // namespace a4ps::cli
