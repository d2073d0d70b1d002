// a4ps resume THREAD [--value JSON] [--interrupt ID], a4ps graph list|check
#include <iostream>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "runtime/engine_check.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

// Progress on stderr as the run's events arrive.
void print_event(const graph::EventRecord& e) {
  const json& d = e.data;
  if (e.kind == "run_started") {
    std::cerr << (d.value("resumed", false) ? "resuming" : "starting") << " run " << e.run_id
              << " on thread " << d.value("thread", "") << "\n";
  } else if (e.kind == "node_started") {
    std::cerr << "  step " << d["step"].get<int>() << "  " << d["node"].get<std::string>()
              << " ...\n";
  } else if (e.kind == "token") {
    std::cerr << d["text"].get<std::string>() << std::flush;
  } else if (e.kind == "node_finished") {
    std::cerr << "  step " << d["step"].get<int>() << "  " << d["node"].get<std::string>()
              << " wrote " << d["update"].dump() << "\n";
  } else if (e.kind == "interrupt") {
    std::cerr << "  " << d["node"].get<std::string>() << " asks (interrupt "
              << d["id"].get<std::string>() << "): " << d["payload"].dump() << "\n";
  } else if (e.kind == "error") {
    std::cerr << "  " << d["node"].get<std::string>()
              << " failed: " << d["message"].get<std::string>() << "\n";
  }
}

json result_json(const graph::RunResult& r) {
  json interrupts = json::array();
  for (const auto& p : r.interrupts) {
    interrupts.push_back({{"id", p.id}, {"node", p.node}, {"payload", p.payload}});
  }
  json out = {{"run", r.run_id},
              {"thread", r.thread_id},
              {"status", graph::run_status_name(r.status)},
              {"steps", r.steps},
              {"checkpoint", r.checkpoint},
              {"state", r.state},
              {"interrupts", interrupts}};
  if (r.status == graph::RunStatus::kError) {
    out["error"] = {{"node", r.failed_node}, {"message", r.error}};
  }
  return out;
}

// Prints the outcome; a failed or cancelled run becomes an error (and a non-zero exit status).
void report(const graph::RunResult& r, bool as_json, const GlobalOptions& options) {
  const std::string resume = a4ps_command(options, "resume " + r.thread_id);
  if (as_json) {
    std::cout << result_json(r).dump(2) << "\n";
  } else {
    std::cout << "run " << r.run_id << " on thread " << r.thread_id << ": "
              << graph::run_status_name(r.status) << " after " << r.steps
              << (r.steps == 1 ? " step" : " steps") << " (checkpoint " << r.checkpoint << ")\n";
    for (const auto& p : r.interrupts) {
      std::cout << "waiting for interrupt " << p.id << " (" << p.node << "): " << p.payload.dump()
                << "\n";
    }
    if (!r.interrupts.empty()) {
      std::cout << "continue with: " << resume << (r.interrupts.size() > 1 ? " --interrupt ID" : "")
                << " --value JSON\n";
    } else if (r.status == graph::RunStatus::kDone) {
      std::cout << "state:\n" << r.state.dump(2) << "\n";
    } else if (r.status == graph::RunStatus::kStepLimit) {
      std::cout << "continue with: " << resume << "\n";
    }
  }
  throw_unless_finished(r, resume);
}

struct ResumeArgs {
  std::string thread;
  std::string value;
  std::string interrupt;
  int max_steps = 0;
  std::string record;
  bool json = false;
};

void resume(const GlobalOptions& options, const ResumeArgs& args) {
  graph::ResumeValues values;
  if (!args.value.empty()) {
    try {
      values[args.interrupt] = json::parse(args.value);
    } catch (const json::exception& e) {
      throw_invalid_argument("--value " + args.value + ": not valid JSON (" + e.what() +
                             "); a string needs quotes, e.g. '\"yes\"'");
    }
  } else if (!args.interrupt.empty()) {
    throw_invalid_argument("--interrupt " + args.interrupt + " needs --value JSON");
  }
  const std::unique_ptr<runtime::Runtime> rt = open_runtime(options);
  const graph::ThreadInfo thread = rt->checkpointer().get_thread(args.thread);
  if (!args.record.empty()) rt->record_to(args.record);
  const graph::CompiledGraph graph = rt->graph(thread.graph);
  graph::RunOptions run = rt->run_options();
  if (args.max_steps > 0) run.max_steps = args.max_steps;
  if (thread.graph != runtime::kEngineCheckGraphName) rt->check_models_reachable();
  if (thread.graph == persona::kWorkflowGraphName) {
    rt->on_load_progress(load_progress_printer());
    if (!args.json) run.on_event = workflow_printer();
  } else {
    run.on_event = print_event;
  }
  CancelOnCtrlC ctrl_c;
  run.cancel = ctrl_c.token();
  const graph::RunResult result =
      graph::resume_run(graph, rt->checkpointer(), args.thread, values, run);
  if (thread.graph == persona::kWorkflowGraphName) {
    print_workflow_result(result, args.json, options);
  } else {
    report(result, args.json, options);
  }
}

void engine_check(const GlobalOptions& options, const std::string& thread, bool as_json) {
  const std::unique_ptr<runtime::Runtime> rt = open_runtime(options);
  graph::RunOptions run = rt->run_options();
  run.on_event = print_event;
  CancelOnCtrlC ctrl_c;
  run.cancel = ctrl_c.token();
  const graph::CompiledGraph check = rt->graph(std::string(runtime::kEngineCheckGraphName));
  report(graph::start_run(check, rt->checkpointer(), thread, nullptr, run), as_json, options);
}

}  // namespace

void add_resume_commands(CLI::App& app, const GlobalOptions& options) {
  auto args = std::make_shared<ResumeArgs>();
  CLI::App* resume_cmd = app.add_subcommand(
      "resume",
      "Continue a thread from its latest checkpoint: a run that was interrupted (give the "
      "human's --value), left running by a crash, cancelled, stopped at its step limit or "
      "failed, or a forked thread. Work already journaled is not done again");
  resume_cmd->add_option("thread", args->thread, "Thread id (see: a4ps threads list)")->required();
  resume_cmd->add_option("--value", args->value,
                         "The answer to the pending interrupt, as JSON (true, 42, '\"text\"', "
                         "'{\"k\": 1}')");
  resume_cmd->add_option("--interrupt", args->interrupt,
                         "Which interrupt --value answers, when several are pending");
  resume_cmd
      ->add_option("--max-steps", args->max_steps,
                   "Step limit for the run (default: [graph] max_steps)")
      ->check(at_least(1));
  resume_cmd->add_option("--record", args->record,
                         "Append every model request and response to this JSONL file");
  resume_cmd->add_flag("--json", args->json, "Print the result as JSON");
  resume_cmd->callback([&options, args] { resume(options, *args); });

  CLI::App* graph_cmd = app.add_subcommand("graph", "The graphs this build can run");
  graph_cmd->require_subcommand(1);
  graph_cmd->add_subcommand("list", "List the graphs threads can belong to")->callback([] {
    for (const std::string& name : runtime::graph_names()) std::cout << name << "\n";
  });
  auto thread = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* check = graph_cmd->add_subcommand(
      "check",
      "Check the graph engine in this image: runs the built-in engine-check graph (a plan, "
      "three branches in one step, a join, and a step that asks you to approve) with "
      "checkpoints, then stops at the approval; answer with a4ps resume THREAD --value true");
  check->add_option("--thread", *thread, "Thread id to use (default: a new one)");
  check->add_flag("--json", *as_json, "Print the result as JSON");
  check->callback([&options, thread, as_json] { engine_check(options, *thread, *as_json); });
}

}  // namespace a4ps::cli
