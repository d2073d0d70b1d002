// a4ps tools forge|list|show|run|test|remove|rollback: the Tool Forge's registry from the
// command line. Tools run only in the sandbox (`a4ps sandbox check` says which runtime).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/runtime_access.h"
#include "core/error.h"
#include "core/text.h"
#include "llm/recording.h"
#include "persona/speaker.h"
#include "persona/tool_use.h"
#include "runtime/model_wiring.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

// The image and its forge for one command.
struct ToolsCommand {
  explicit ToolsCommand(const GlobalOptions& options) : rt(open_runtime(options)) {}

  // The registry alone: commands that run no code probe no sandbox.
  forge::ToolRegistry& registry() { return rt->tools(); }
  forge::ToolForge& forge() { return rt->forge(); }

  std::unique_ptr<runtime::Runtime> rt;
};

struct ForgeArgs {
  std::string capability;
  std::string name;
  std::string replay_file;
  bool json = false;
};

std::string time_text(std::int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
  return buf;
}

void print_attempt(const json& a) {
  std::fprintf(stderr, "forge: attempt %d: %s\n", a.value("attempt", 0),
               a.value("ok", false)
                   ? "its tests pass"
                   : ("failed: " + a.value("problem", std::string()).substr(0, 400)).c_str());
}

void forge_tool(const GlobalOptions& options, const ForgeArgs& a) {
  ToolsCommand t(options);
  t.forge().sandbox();  // no sandbox: refuse before any model loads
  const Codex& codex = t.rt->codex();
  const std::string brick_model = codex.persona("brick").model;
  std::unique_ptr<llm::ModelManager> replay;
  llm::ModelManager* models = nullptr;
  if (!a.replay_file.empty()) {
    replay = std::make_unique<llm::ModelManager>(runtime::model_manager_options(t.rt->config()));
    replay->register_remote(brick_model,
                            std::make_unique<llm::ReplayBackend>(brick_model, a.replay_file));
    models = replay.get();
  } else {
    t.rt->on_load_progress(load_progress_printer());
    models = &t.rt->models();
  }
  persona::Speaker speaker(*models, codex, static_cast<int>(t.rt->config().inference.context_size));
  persona::BrickAuthor author(speaker, nullptr);
  forge::ForgeRequest request;
  request.capability = valid_utf8(a.capability);
  request.wanted_name = a.name;
  if (!a.json) request.on_attempt = print_attempt;
  const forge::ForgeOutcome outcome = t.forge().forge(request, author);
  if (a.json) {
    std::cout << outcome.to_json().dump(2) << "\n";
  } else if (outcome.created) {
    std::cout << "created tool " << outcome.name << " (version " << outcome.tool->version << ") in "
              << outcome.attempts << " attempt(s)\n  " << outcome.tool->spec.signature << "\n  "
              << outcome.tool->spec.docstring << "\n";
  }
  if (!outcome.created) {
    throw Error(ErrorCode::kFailedPrecondition,
                "the forge gave up on \"" + a.capability + "\": " + outcome.reason);
  }
}

void list_tools(const GlobalOptions& options, bool as_json) {
  ToolsCommand t(options);
  const auto tools = t.registry().list();
  if (as_json) {
    json out = json::array();
    for (const auto& v : tools) out.push_back(v.to_json());
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (tools.empty()) std::cout << "no tools yet (a4ps tools forge \"what it should do\")\n";
  for (const auto& v : tools) {
    std::cout << v.spec.name << "  v" << v.version << "  " << v.spec.signature << "\n  "
              << v.spec.docstring << "\n  by " << v.provenance.author << ", "
              << time_text(v.created_ms) << " UTC, " << v.provenance.attempts << " attempt(s)\n";
  }
}

void show_tool(const GlobalOptions& options, const std::string& name, bool as_json) {
  ToolsCommand t(options);
  const json v = t.registry().describe(name);
  if (as_json) {
    std::cout << v.dump(2) << "\n";
    return;
  }
  const std::string run = v.value("run", "");
  std::cout << v.value("name", "") << " version " << v.value("version", 0) << " (versions "
            << v["versions"].dump() << ")\n"
            << v.value("signature", "") << "\n"
            << v.value("docstring", "") << "\ncapability: " << v.value("capability", "")
            << "\nauthor: " << v.value("author", "") << ", "
            << time_text(v.value("created_ms", std::int64_t{0})) << " UTC"
            << (run.empty() ? "" : ", run " + run) << "\nsha256: " << v.value("code_sha256", "")
            << "\n\n# tool.py\n"
            << v.value("code", "") << "\n# test_tool.py\n"
            << v.value("tests", "") << "\n";
}

// Prints a harness report; throws when it did not succeed.
void report_run(const std::string& what, const forge::HarnessReport& r, bool as_json) {
  if (as_json) {
    std::cout << r.to_json().dump(2) << "\n";
  } else {
    if (!r.output.empty()) std::cerr << r.output << (r.output.back() == '\n' ? "" : "\n");
    for (const json& test : r.tests) {
      std::cout << test.value("test", "?") << ": " << test.value("outcome", "?") << "\n";
    }
    if (r.ok && !r.result.is_null()) std::cout << r.result.dump(2) << "\n";
    std::cerr << what << ": " << (r.ok ? "ok" : "failed") << " (" << r.sandbox.runtime << ", "
              << r.sandbox.duration_ms << " ms)\n";
  }
  if (!r.ok) throw Error(ErrorCode::kFailedPrecondition, what + " failed: " + r.problem);
}

json parse_arguments(const std::string& text) {
  json arguments = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (arguments.is_discarded() || !arguments.is_object()) {
    throw_invalid_argument("--args " + text.substr(0, 200) +
                           ": expected a JSON object of keyword arguments, e.g. '{\"x\": 2}'");
  }
  return arguments;
}

void add_forge_command(CLI::App& tools, const GlobalOptions& options) {
  auto a = std::make_shared<ForgeArgs>();
  CLI::App* cmd = tools.add_subcommand(
      "forge",
      "BRICK writes a tool for a capability: a function and its tests, run in the sandbox, "
      "failures fed back for up to [tools] max_attempts; success registers it");
  cmd->add_option("capability", a->capability, "What the tool must do, its inputs and output")
      ->required();
  cmd->add_option("--name", a->name, "The tool's name (lower_snake_case; default: BRICK's)");
  cmd->add_option("--replay", a->replay_file,
                  "Answer BRICK's model calls from this recording (docs/formats/replay.md)");
  cmd->add_flag("--json", a->json, "Print the outcome, with every attempt, as JSON");
  cmd->callback([&options, a] { forge_tool(options, *a); });
}

}  // namespace

void add_tools_commands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* tools = app.add_subcommand(
      "tools",
      "The tools the forge wrote: forge, list, show, run, test, remove, rollback.\n\nExamples:\n"
      "  a4ps tools forge \"count the words in a text\"\n"
      "  a4ps tools list\n"
      "  a4ps tools run word_count --args '{\"text\": \"a b c\"}'\n"
      "  a4ps tools rollback word_count            # back to the previous version");
  tools->require_subcommand(1);
  add_forge_command(*tools, options);

  auto as_json = std::make_shared<bool>(false);
  CLI::App* list = tools->add_subcommand("list", "The registered tools (active versions)");
  list->add_flag("--json", *as_json, "Print JSON");
  list->callback([&options, as_json] { list_tools(options, *as_json); });

  struct NameArgs {
    std::string name;
    std::string arguments = "{}";
    std::optional<int> to;
    bool json = false;
  };
  auto n = std::make_shared<NameArgs>();
  CLI::App* show = tools->add_subcommand("show", "A tool's manifest, code and tests");
  show->add_option("name", n->name, "The tool")->required();
  show->add_flag("--json", n->json, "Print JSON");
  show->callback([&options, n] { show_tool(options, n->name, n->json); });

  CLI::App* run = tools->add_subcommand("run", "Call a tool in the sandbox with JSON arguments");
  run->add_option("name", n->name, "The tool")->required();
  run->add_option("--args", n->arguments, "Keyword arguments as a JSON object (default {})");
  run->add_flag("--json", n->json, "Print the harness's report as JSON");
  run->callback([&options, n] {
    ToolsCommand t(options);
    report_run("tool " + n->name, t.forge().call(n->name, parse_arguments(n->arguments)), n->json);
  });

  CLI::App* test = tools->add_subcommand("test", "Run a tool's tests again in the sandbox");
  test->add_option("name", n->name, "The tool")->required();
  test->add_flag("--json", n->json, "Print the harness's report as JSON");
  test->callback([&options, n] {
    ToolsCommand t(options);
    report_run("tests of " + n->name, t.forge().test(n->name), n->json);
  });

  CLI::App* remove = tools->add_subcommand(
      "remove", "Take a tool out of the catalogue (its versions are kept; rollback restores it)");
  remove->add_option("name", n->name, "The tool")->required();
  remove->add_flag("--json", n->json, "Print JSON");
  remove->callback([&options, n] {
    ToolsCommand t(options);
    t.registry().remove(n->name);
    if (n->json) {
      std::cout << json{{"removed", n->name}}.dump(2) << "\n";
    } else {
      std::cout << "removed tool " << n->name << "\n";
    }
  });

  CLI::App* rollback = tools->add_subcommand(
      "rollback", "Make an earlier version active (default: the one before the active one)");
  rollback->add_option("name", n->name, "The tool")->required();
  rollback->add_option("--to", n->to, "The version to make active");
  rollback->add_flag("--json", n->json, "Print the now active version as JSON");
  rollback->callback([&options, n] {
    ToolsCommand t(options);
    const forge::ToolVersion v = t.registry().rollback(n->name, n->to);
    if (n->json) {
      std::cout << v.to_json().dump(2) << "\n";
    } else {
      std::cout << "tool " << v.spec.name << " is at version " << v.version << "\n";
    }
  });
}

}  // namespace a4ps::cli
