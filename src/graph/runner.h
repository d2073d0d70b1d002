// graph/runner: runs a compiled graph in super-steps on a thread of a Checkpointer. The nodes
// scheduled for a step run concurrently on their own copies of the state; their updates are
// folded in by the channels' reducers in node-name order, so the result does not depend on
// thread timing. After every step the checkpoint, the state change and the step's events are
// committed in one transaction. A run ends at END, at an interrupt, at the step limit, on
// cancellation, or at the first node that fails (recorded with the node's name and input);
// all but END leave the thread resumable.
//
// Resume without repetition: a node's model and tool calls go through NodeContext::once(),
// which journals each result as it is produced; when a step with several nodes stops without
// committing (an interrupt or an error in one of them), the outputs of the nodes that
// finished are journaled too. A re-run step (after a crash, an interrupt or an error) replays
// what is journaled instead of producing it again.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "core/error.h"
#include "graph/checkpointer.h"
#include "graph/state_graph.h"

namespace a4ps::graph {

enum class RunStatus { kDone, kInterrupted, kCancelled, kStepLimit, kError };

std::string_view run_status_name(RunStatus status);

struct RunOptions {
  int max_steps = 100;     // super-steps per run, counted across resumes
  std::stop_token cancel;  // checked before every step; nodes may check it too
  BusyPolicy busy = BusyPolicy::kRefuse;
  // Every event, after it is stored, in sequence order. Calls are serialised but may come
  // from a node's thread (tokens); keep it short.
  std::function<void(const EventRecord&)> on_event;
};

struct RunResult {
  std::string run_id;
  std::string thread_id;
  RunStatus status = RunStatus::kDone;
  State state;
  int steps = 0;                                // super-steps the run has committed
  std::int64_t checkpoint = 0;                  // the thread's latest checkpoint
  std::vector<PendingInterrupt> interrupts;     // kInterrupted
  std::string error;                            // kError: what failed
  ErrorCode error_code = ErrorCode::kInternal;  // kError: its kind (e.g. kUnavailable)
  std::string failed_node;                      // kError
  nlohmann::json failed_input;                  // kError: the state the node was given
};

// Starts a run of `graph` on thread `thread_id` (created for the graph if it does not exist;
// empty: a new thread), with `input` (an object of channels, or null) folded in as if written
// by a node named "input". Throws a4ps::Error: kInvalidArgument for input naming unknown
// channels or a thread made by another graph, kFailedPrecondition when the thread is busy
// (BusyPolicy) or has unfinished work. Everything that goes wrong inside the run is reported
// in the result.
RunResult start_run(const CompiledGraph& graph, Checkpointer& checkpointer,
                    const std::string& thread_id, const nlohmann::json& input,
                    const RunOptions& options = {});

// Interrupt id -> the human's value. The key "" stands for "the only pending interrupt".
using ResumeValues = std::map<std::string, nlohmann::json>;

// Continues the thread from its latest checkpoint: its last unfinished run (interrupted,
// crashed, cancelled, failed or at its step limit) or, on a forked thread, a new run. `values`
// answer pending interrupts by id. Throws kFailedPrecondition when there is nothing to resume
// or an interrupt still waits for a value, kInvalidArgument for a value naming no pending
// interrupt, kNotFound for an unknown thread.
RunResult resume_run(const CompiledGraph& graph, Checkpointer& checkpointer,
                     const std::string& thread_id, const ResumeValues& values = {},
                     const RunOptions& options = {});

// Runs `graph` once in memory (a private in-memory checkpointer), from its initial state.
RunResult run_graph(const CompiledGraph& graph, const nlohmann::json& input,
                    const RunOptions& options = {});

}  // namespace a4ps::graph
