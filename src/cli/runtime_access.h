// cli/runtime_access: what the commands that work on an image share: the Runtime the global
// options select (runtime/runtime.h does the wiring), the command line that resumes a thread,
// Ctrl-C as a cancel, and the terminal output of runs and progress.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "cli/cli_context.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "runtime/runtime.h"

namespace a4ps::cli {

// The image the options select: --image, $A4PS_IMAGE, or the default.
std::filesystem::path selected_image_dir(const GlobalOptions& options);

// A command line a user can paste to run `rest` (e.g. "resume t-1") on the same image with the
// same configuration: "a4ps --image DIR resume t-1" when the image is not the default one, with
// --config and --codex when they were given; paths are shell-quoted when they need it.
std::string a4ps_command(const GlobalOptions& options, const std::string& rest);

// `message` (a library's error) with the image and configuration of this invocation in each
// command it suggests: "see: a4ps threads list" becomes "see: a4ps --image DIR threads list"
// when DIR is not the default image, so the hint works when pasted. Unchanged otherwise.
std::string with_invocation_in_hints(const std::string& message, const GlobalOptions& options);

// The Runtime's options from the global options: the selected image; --config, else
// $A4PS_CONFIG, else the image's config.toml, else ./config.toml; --codex, else $A4PS_CODEX,
// else the image's codex; index rebuilds shown on stderr; crashed runs named with the
// a4ps_command that resumes them.
runtime::RuntimeOptions runtime_options(const GlobalOptions& options);

// The selected image opened for writing (its lock held; see runtime::Runtime::open).
std::unique_ptr<runtime::Runtime> open_runtime(const GlobalOptions& options);

// The selected image's state.db for reading only: works while another process holds the image.
std::unique_ptr<graph::Checkpointer> open_image_for_reading(const GlobalOptions& options);

// While alive, Ctrl-C cancels the run at the next step boundary (the run stays resumable)
// instead of killing the process mid-step.
class CancelOnCtrlC {
 public:
  CancelOnCtrlC();
  ~CancelOnCtrlC();
  CancelOnCtrlC(const CancelOnCtrlC&) = delete;
  CancelOnCtrlC& operator=(const CancelOnCtrlC&) = delete;
  std::stop_token token() const { return stop_.get_token(); }

 private:
  std::stop_source stop_;
  std::jthread watcher_;
};

// Shows model loads on stderr ("loading brick ... 100%", in place on a terminal).
std::function<void(const std::string&, float)> load_progress_printer();
// Prints "LABEL: done of total" on stderr (one updating line on a terminal, the last otherwise).
std::function<void(std::int64_t, std::int64_t)> count_progress_printer(std::string label);

// The persona workflow's transcript on stdout, from its events (run_cmd.cpp).
std::function<void(const graph::EventRecord&)> workflow_printer();
// The workflow's answer and dissonance, or with `as_json` one JSON result; then
// throw_unless_finished.
void print_workflow_result(const graph::RunResult& r, bool as_json, const GlobalOptions& options);
// A failed run becomes an error (kFailedPrecondition, exit 7) naming the node, a cancelled one
// kCancelled (exit 10); both name `resume`, the command that continues the run.
void throw_unless_finished(const graph::RunResult& r, const std::string& resume);

}  // namespace a4ps::cli
