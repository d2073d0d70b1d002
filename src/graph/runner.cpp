#include "graph/runner.h"

#include <algorithm>
#include <future>
#include <mutex>
#include <set>
#include <tuple>

#include "core/error.h"
#include "graph/run_journal.h"
#include "graph/worker_pool.h"

namespace a4ps::graph {
namespace {

using internal::DurableJournal;
using internal::Publisher;
using nlohmann::json;

struct NodeOutcome {
  std::string node;
  Update update;
  std::string error;                            // set when the node failed
  ErrorCode error_code = ErrorCode::kInternal;  // and of what kind
  std::optional<InterruptSignal> interrupt;     // set when it interrupted
  bool replayed = false;                        // its output came from the journal
};

NodeOutcome run_node(const CompiledGraph& graph, const std::string& node, const State& state,
                     const NodeContext::Where& where, StepJournal& journal,
                     const std::stop_token& cancel) {
  NodeOutcome outcome{node, nullptr, {}, ErrorCode::kInternal, std::nullopt, false};
  try {
    NodeContext ctx(state, node, where, journal, cancel);
    outcome.update = graph.node_fn(node)(ctx);
  } catch (const InterruptSignal& signal) {
    outcome.interrupt = signal;
  } catch (const Error& e) {
    outcome.error = e.what();
    outcome.error_code = e.code();
  } catch (const std::exception& e) {
    outcome.error = e.what();
    if (outcome.error.empty()) outcome.error = "an exception without a message";
  } catch (...) {
    outcome.error = "a non-standard exception";
  }
  return outcome;
}

// Two nodes of one step replacing the same channel would make the result depend on order;
// append and merge channels combine concurrent updates by design.
void check_replace_conflicts(const CompiledGraph& graph, const std::vector<NodeOutcome>& outcomes) {
  std::map<std::string, std::string> writer;
  for (const NodeOutcome& o : outcomes) {
    if (!o.update.is_object()) continue;
    for (const auto& [channel, value] : o.update.items()) {
      (void)value;
      if (graph.reducer_of(channel) != Reducer::kReplace) continue;
      const auto [it, fresh] = writer.emplace(channel, o.node);
      if (!fresh) {
        throw_invalid_argument("nodes " + it->second + " and " + o.node + " both wrote channel " +
                               channel + " in one step");
      }
    }
  }
}

// Where a run stands between steps.
struct Cursor {
  std::string thread_id;
  std::int64_t checkpoint = -1;
  State state;
  std::vector<std::string> pending;
  int steps = 0;
};

class Execution {
 public:
  Execution(const CompiledGraph& graph, Checkpointer& checkpointer, const RunInfo& run,
            const RunOptions& options)
      : graph_(graph),
        checkpointer_(checkpointer),
        options_(options),
        publisher_(checkpointer, run.id, options.on_event),
        channels_(graph.channels()) {
    result_.run_id = run.id;
    result_.thread_id = run.thread_id;
  }

  Publisher& publisher() { return publisher_; }

  // Commits a run's input as step 0 (the thread's first checkpoint, or a new one).
  void commit_input(Cursor& cursor, const json& input) {
    first_step_ = false;  // the step after the input starts from a checkpoint made just now
    const bool first = cursor.checkpoint < 0;
    const State before = cursor.state;
    if (input.is_object()) {
      for (const auto& [channel, value] : input.items()) {
        reduce_channel(graph_.reducer_of(channel), "input", channel, cursor.state[channel], value);
      }
    }
    cursor.pending = {graph_.entry_point()};
    StepRecord record;
    record.run_id = result_.run_id;
    record.step = 0;
    record.parent = cursor.checkpoint;
    record.before = first ? nullptr : &before;
    record.after = &cursor.state;
    if (!first && input.is_object()) record.writes.push_back({"input", input});
    record.pending = cursor.pending;
    record.metadata = {{"source", "input"}};
    commit(cursor, record, started_events(cursor.pending, 1));
  }

  // Runs steps until the run stops. If storage fails underneath (a full disk), the run is
  // marked failed where possible and the error propagates; the last committed step stands.
  RunResult run(Cursor cursor) {
    try {
      return run_steps(cursor);
    } catch (const std::exception& e) {
      try {
        checkpointer_.set_run_status(result_.run_id, "error", e.what(), "");
      } catch (const std::exception&) {  // the original error says more
      }
      throw;
    }
  }

 private:
  RunResult run_steps(Cursor& cursor) {
    for (;;) {
      if (cursor.pending.empty()) return finish(cursor, RunStatus::kDone, false);
      if (options_.cancel.stop_requested()) return finish(cursor, RunStatus::kCancelled, true);
      if (cursor.steps >= options_.max_steps) return finish(cursor, RunStatus::kStepLimit, true);
      if (!step(cursor)) return result_;
    }
  }

  std::vector<NewEvent> started_events(const std::vector<std::string>& nodes, int step) const {
    std::vector<NewEvent> events;
    for (const std::string& node : nodes) {
      events.push_back({"node_started", {{"step", step}, {"node", node}}});
    }
    return events;
  }

  void commit(Cursor& cursor, const StepRecord& record, const std::vector<NewEvent>& events) {
    const auto stored = publisher_.store_and_deliver(
        [&] { return checkpointer_.commit_step(cursor.thread_id, channels_, record, events); });
    cursor.checkpoint = stored.first.id;
  }

  std::vector<NodeOutcome> run_nodes(const Cursor& cursor, DurableJournal& journal);
  bool step(Cursor& cursor);
  RunResult fail(const Cursor& cursor, const std::string& node, const std::string& error,
                 ErrorCode code = ErrorCode::kInternal);
  RunResult interrupted(const Cursor& cursor, const std::vector<NodeOutcome>& outcomes,
                        DurableJournal& journal);

  RunResult finish(const Cursor& cursor, RunStatus status, bool store_status) {
    result_.status = status;
    result_.state = cursor.state;
    result_.steps = cursor.steps;
    result_.checkpoint = cursor.checkpoint;
    if (store_status) {
      const std::string name(run_status_name(status));
      checkpointer_.set_run_status(result_.run_id, name);
      publisher_.publish({"run_finished", {{"status", name}, {"steps", cursor.steps}}});
    }
    return result_;
  }

  const CompiledGraph& graph_;
  Checkpointer& checkpointer_;
  const RunOptions& options_;
  Publisher publisher_;
  RunResult result_;
  const ChannelSpec channels_;
  bool first_step_ = true;
};

std::vector<NodeOutcome> Execution::run_nodes(const Cursor& cursor, DurableJournal& journal) {
  const NodeContext::Where where{cursor.thread_id, result_.run_id, cursor.checkpoint};
  const bool several = cursor.pending.size() > 1;
  const auto run_one = [&](const std::string& node) {
    if (auto output = journal.find(node, "output", "")) {
      return NodeOutcome{node, *std::move(output), {}, ErrorCode::kInternal, std::nullopt, true};
    }
    return run_node(graph_, node, cursor.state, where, journal, options_.cancel);
  };
  std::vector<NodeOutcome> outcomes;
  if (!several) {
    outcomes.push_back(run_one(cursor.pending.front()));
    return outcomes;
  }
  std::vector<std::future<NodeOutcome>> running;
  for (const std::string& node : cursor.pending) {
    running.push_back(
        WorkerPool::shared().submit<NodeOutcome>([&run_one, node] { return run_one(node); }));
  }
  for (auto& f : running) outcomes.push_back(f.get());
  return outcomes;
}

bool Execution::step(Cursor& cursor) {
  DurableJournal journal(checkpointer_, cursor.thread_id, cursor.checkpoint, publisher_,
                         std::exchange(first_step_, false));
  const std::vector<NodeOutcome> outcomes = run_nodes(cursor, journal);
  const bool stops = std::any_of(outcomes.begin(), outcomes.end(), [](const NodeOutcome& o) {
    return !o.error.empty() || o.interrupt.has_value();
  });
  // The step will be run again: its nodes that finished keep their outputs, so that they are
  // not run again. (After a crash they are; their model and tool calls replay from the
  // journal, so no side effect happens twice.)
  if (stops && outcomes.size() > 1) {
    for (const NodeOutcome& o : outcomes) {
      if (o.error.empty() && !o.interrupt && !o.replayed) {
        journal.record(o.node, "output", "", o.update);
      }
    }
  }
  const bool failed = std::any_of(outcomes.begin(), outcomes.end(),
                                  [](const NodeOutcome& o) { return !o.error.empty(); });
  // A node that stopped because the run was cancelled (a model call cut short) did not fail:
  // the run is cancelled, and resuming re-runs the step.
  if (failed && options_.cancel.stop_requested()) {
    finish(cursor, RunStatus::kCancelled, true);
    return false;
  }
  for (const NodeOutcome& o : outcomes) {
    if (!o.error.empty()) {
      fail(cursor, o.node, o.error, o.error_code);
      return false;
    }
  }
  if (std::any_of(outcomes.begin(), outcomes.end(),
                  [](const NodeOutcome& o) { return o.interrupt.has_value(); })) {
    interrupted(cursor, outcomes, journal);
    return false;
  }
  const State before = cursor.state;
  const int step = cursor.steps + 1;
  StepRecord record;
  std::vector<NewEvent> events;
  std::set<std::string> next;
  try {
    check_replace_conflicts(graph_, outcomes);
    for (const NodeOutcome& o : outcomes) {
      graph_.apply_update(cursor.state, o.node, o.update);
      record.writes.push_back({o.node, o.update});
      events.push_back({"node_finished", {{"step", step}, {"node", o.node}, {"update", o.update}}});
    }
    for (const NodeOutcome& o : outcomes) {
      for (const std::string& n : graph_.next_nodes(o.node, cursor.state)) {
        if (n != kEnd) next.insert(n);
      }
    }
  } catch (const std::exception& e) {  // a reducer mismatch, or a router that threw
    cursor.state = before;
    fail(cursor, outcomes.size() == 1 ? outcomes.front().node : "", e.what());
    return false;
  }
  record.run_id = result_.run_id;
  record.step = step;
  record.parent = cursor.checkpoint;
  record.before = &before;
  record.after = &cursor.state;
  record.pending.assign(next.begin(), next.end());
  json writers = json::array();
  for (const StepWrite& w : record.writes) writers.push_back(w.node);
  record.metadata = {{"source", "step"}, {"writers", writers}};
  events.push_back(
      {"state_update",
       {{"step", step}, {"checkpoint", cursor.checkpoint + 1}, {"pending", record.pending}}});
  if (record.pending.empty()) {
    record.run_status = "done";
    events.push_back({"run_finished", {{"status", "done"}, {"steps", step}}});
  } else {
    const auto started = started_events(record.pending, step + 1);
    events.insert(events.end(), started.begin(), started.end());
  }
  commit(cursor, record, events);
  cursor.pending = record.pending;
  cursor.steps = step;
  return true;
}

RunResult Execution::fail(const Cursor& cursor, const std::string& node, const std::string& error,
                          ErrorCode code) {
  result_.error = error;
  result_.error_code = code;
  result_.failed_node = node;
  result_.failed_input = cursor.state;
  publisher_.publish({"error", {{"step", cursor.steps + 1}, {"node", node}, {"message", error}}});
  checkpointer_.set_run_status(result_.run_id, "error", error, node);
  publisher_.publish({"run_finished", {{"status", "error"}, {"steps", cursor.steps}}});
  result_.status = RunStatus::kError;
  result_.state = cursor.state;
  result_.steps = cursor.steps;
  result_.checkpoint = cursor.checkpoint;
  return result_;
}

RunResult Execution::interrupted(const Cursor& cursor, const std::vector<NodeOutcome>& outcomes,
                                 DurableJournal& journal) {
  for (const NodeOutcome& o : outcomes) {
    if (!o.interrupt) continue;
    const NewEvent event{
        "interrupt",
        {{"id", o.interrupt->id}, {"node", o.node}, {"payload", o.interrupt->payload}}};
    // An interrupt still unanswered from an earlier attempt is journaled already.
    if (journal.find(o.node, "interrupt", o.interrupt->id)) {
      publisher_.publish(event);
    } else {
      journal.record_with_events(o.node, "interrupt", o.interrupt->id, o.interrupt->payload,
                                 {event});
    }
  }
  result_.interrupts = checkpointer_.pending_interrupts(cursor.thread_id);
  json ids = json::array();
  for (const PendingInterrupt& p : result_.interrupts) ids.push_back(p.id);
  checkpointer_.set_run_status(result_.run_id, "interrupted");
  publisher_.publish(
      {"run_finished", {{"status", "interrupted"}, {"steps", cursor.steps}, {"interrupts", ids}}});
  result_.status = RunStatus::kInterrupted;
  result_.state = cursor.state;
  result_.steps = cursor.steps;
  result_.checkpoint = cursor.checkpoint;
  return result_;
}

void check_same_graph(const CompiledGraph& graph, const ThreadInfo& thread) {
  if (thread.graph != graph.name() || thread.channels != graph.channels()) {
    throw_invalid_argument("thread " + thread.id + " belongs to graph " + thread.graph +
                           (thread.graph == graph.name() ? " with other channels" : "") +
                           ", not to graph " + graph.name());
  }
}

void check_input(const CompiledGraph& graph, const json& input) {
  if (input.is_null()) return;
  if (!input.is_object()) throw_invalid_argument("run input must be a JSON object of channels");
  const ChannelSpec channels = graph.channels();
  for (const auto& [channel, value] : input.items()) {
    const auto it = channels.find(channel);
    if (it == channels.end()) {
      throw_invalid_argument("run input names channel " + channel + ", which the graph lacks");
    }
    json probe = graph.initial_state()[channel];
    reduce_channel(it->second, "input", channel, probe, value);
  }
}

Cursor load_cursor(Checkpointer& checkpointer, const std::string& thread_id, int steps) {
  Checkpoint cp = checkpointer.load(thread_id);
  return {thread_id, cp.info.id, std::move(cp.state), std::move(cp.info.pending), steps};
}

}  // namespace

std::string_view run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kDone:
      return "done";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kCancelled:
      return "cancelled";
    case RunStatus::kStepLimit:
      return "step_limit";
    case RunStatus::kError:
      return "error";
  }
  return "error";
}

RunResult start_run(const CompiledGraph& graph, Checkpointer& checkpointer,
                    const std::string& thread_id, const json& input, const RunOptions& options) {
  check_input(graph, input);
  std::optional<ThreadInfo> thread;
  if (!thread_id.empty()) thread = checkpointer.find_thread(thread_id);
  if (thread) check_same_graph(graph, *thread);
  // On a new thread, creating it, starting the run and storing the input are one commit (and
  // nothing is left behind if one of them fails). Its events are delivered after the commit.
  std::optional<Checkpointer::Batch> batch;
  if (!thread) {
    batch.emplace(checkpointer);
    thread = checkpointer.create_thread(thread_id, graph.name(), graph.channels(), {});
  }
  std::vector<EventRecord> started;
  const RunInfo run = checkpointer.begin_run(
      thread->id, input, options.busy, PendingWork::kRefuse,
      {{"run_started", {{"thread", thread->id}, {"input", input}}}}, &started);
  Execution execution(graph, checkpointer, run, options);
  if (batch) execution.publisher().hold();
  execution.publisher().deliver_stored(started);
  Cursor cursor{thread->id, -1, graph.initial_state(), {}, 0};
  if (thread->last_checkpoint >= 0) cursor = load_cursor(checkpointer, thread->id, 0);
  try {
    execution.commit_input(cursor, input);
  } catch (const std::exception& e) {
    if (!batch) checkpointer.set_run_status(run.id, "error", e.what(), "");
    throw;
  }
  if (batch) {
    batch->commit();
    batch.reset();
    execution.publisher().release();
  }
  return execution.run(std::move(cursor));
}

namespace {

// Matches `values` to the thread's pending interrupts; throws when one names none of them or
// when an interrupt is left without a value.
std::vector<std::pair<PendingInterrupt, json>> match_values(
    const std::vector<PendingInterrupt>& pending, const ResumeValues& values,
    const std::string& thread_id) {
  std::string ids;
  for (const PendingInterrupt& p : pending) ids += (ids.empty() ? "" : ", ") + p.id;
  std::vector<std::pair<PendingInterrupt, json>> matched;
  if (pending.empty() && !values.empty()) {
    throw_invalid_argument(
        "thread " + thread_id +
        " has no pending interrupt for a value to answer; resume it without one");
  }
  for (const auto& [id, value] : values) {
    if (id.empty()) {
      if (pending.size() != 1) {
        throw_invalid_argument("thread " + thread_id + " has " + std::to_string(pending.size()) +
                               " pending interrupts (" + (ids.empty() ? "none" : ids) +
                               "); name the one the value is for");
      }
      matched.emplace_back(pending.front(), value);
      continue;
    }
    const auto it = std::find_if(pending.begin(), pending.end(),
                                 [&](const PendingInterrupt& p) { return p.id == id; });
    if (it == pending.end()) {
      throw_invalid_argument("thread " + thread_id + " has no pending interrupt " + id +
                             " (pending: " + (ids.empty() ? "none" : ids) + ")");
    }
    matched.emplace_back(*it, value);
  }
  if (!pending.empty() && matched.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "thread " + thread_id + " is waiting for a value for interrupt " + ids +
                    "; resume it with a value (a4ps resume " + thread_id + " --value JSON)");
  }
  return matched;
}

}  // namespace

RunResult resume_run(const CompiledGraph& graph, Checkpointer& checkpointer,
                     const std::string& thread_id, const ResumeValues& values,
                     const RunOptions& options) {
  const ThreadInfo thread = checkpointer.get_thread(thread_id);
  check_same_graph(graph, thread);
  const auto answers = match_values(checkpointer.pending_interrupts(thread_id), values, thread_id);
  Checkpoint latest = checkpointer.load(thread_id);
  if (latest.info.pending.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "thread " + thread_id +
                    " has nothing to resume: its last run finished; start a "
                    "new run on it instead");
  }
  const std::vector<RunInfo> last = checkpointer.list_runs(thread_id, "", 1);
  const bool continue_run = !last.empty() && last.front().status != "done";
  const RunInfo run = continue_run ? checkpointer.reopen_run(last.front().id, options.busy)
                                   : checkpointer.begin_run(thread_id, nullptr, options.busy,
                                                            PendingWork::kContinue);
  Execution execution(graph, checkpointer, run, options);
  for (const auto& [interrupt, value] : answers) {
    checkpointer.record_journal(thread_id, interrupt.checkpoint, run.id,
                                {interrupt.node, "resume", interrupt.id, value}, {});
  }
  execution.publisher().publish(
      {"run_started", {{"thread", thread_id}, {"resumed", true}, {"checkpoint", latest.info.id}}});
  Cursor cursor{thread_id, latest.info.id, std::move(latest.state), latest.info.pending,
                continue_run ? run.steps : 0};
  for (const std::string& node : cursor.pending) {
    execution.publisher().publish(
        {"node_started", {{"step", cursor.steps + 1}, {"node", node}, {"resumed", true}}});
  }
  return execution.run(std::move(cursor));
}

RunResult run_graph(const CompiledGraph& graph, const json& input, const RunOptions& options) {
  const auto checkpointer = Checkpointer::open_in_memory();
  return start_run(graph, *checkpointer, "", input, options);
}

}  // namespace a4ps::graph
