// graph/checkpointer: the graph engine's durable memory in state.db. A thread is one line of
// history of one graph; each committed super-step adds a checkpoint (its id, parent, step,
// pending nodes, metadata) and the state change, in one transaction. Storage grows with what
// the step wrote, not with the size of the state: an append channel stores each element once,
// a replace channel each value written, a merge channel its patches plus a full value every
// few patches (docs/formats/state-db.md). Runs, their event streams (sequence numbered per
// run) and each step's journal (model outputs, tool results, node outputs, interrupts and the
// values that resumed them) live beside them.
//
// Thread-safe: one mutex guards the connection and the caches below; it is held for SQLite
// I/O only, never while a node runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/json_text.h"
#include "graph/state_graph.h"

namespace a4ps::sql {
class Database;
class Transaction;
}  // namespace a4ps::sql

namespace a4ps::graph {

enum class Durability {
  kNormal,  // WAL, synchronous=NORMAL: a committed step survives a process crash (kill -9)
  kSync,    // synchronous=FULL: every step is fsynced, and survives power loss too
};

std::string_view durability_name(Durability durability);
std::optional<Durability> durability_from_name(std::string_view name);

// What happens when a run is started on a thread that another run is using.
enum class BusyPolicy {
  kRefuse,  // throw kFailedPrecondition naming the busy run (the default)
  kQueue,   // wait until the thread is free, up to CheckpointerOptions::queue_timeout_ms
};

enum class PendingWork { kRefuse, kContinue };

struct CheckpointerOptions {
  Durability durability = Durability::kNormal;
  int merge_full_every = 16;  // a merge channel stores its full value after this many patches
  int queue_timeout_ms = 60'000;
};

struct ThreadInfo {
  std::string id;
  std::string graph;
  ChannelSpec channels;
  nlohmann::json metadata = nlohmann::json::object();
  std::string parent_thread;  // set for forks
  std::optional<std::int64_t> parent_checkpoint;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t last_checkpoint = -1;  // -1 before the first checkpoint
};

struct CheckpointInfo {
  std::string thread_id;
  std::int64_t id = 0;
  std::optional<std::int64_t> parent;  // id - 1 in the same thread; nullopt for the first
  std::string run_id;
  int step = 0;  // the super-step of its run that produced it (0: the run's input)
  std::vector<std::string> pending;  // nodes of the next super-step; empty when finished
  nlohmann::json metadata = nlohmann::json::object();
  std::int64_t created_ms = 0;
};

struct Checkpoint {
  CheckpointInfo info;
  State state;
};

// Run status names as stored: running, interrupted, done, error, cancelled, step_limit,
// crashed (left running by a process that died).
struct RunInfo {
  std::string id;
  std::string thread_id;
  std::string status;
  nlohmann::json input;
  int steps = 0;
  std::string error;
  std::string error_node;
  std::int64_t pid = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

struct EventRecord {
  std::string run_id;
  std::int64_t seq = 0;  // 1, 2, ... per run, never reused
  std::int64_t ts_ms = 0;
  std::string kind;  // run_started, node_started, token, node_finished, state_update,
                     // interrupt, error, run_finished
  nlohmann::json data;
};

struct NewEvent {
  std::string kind;
  nlohmann::json data;
};

struct PendingInterrupt {
  std::string id;
  std::string node;
  std::int64_t checkpoint = 0;
  nlohmann::json payload;
};

struct JournalEntry {
  std::string node;
  std::string kind;  // model, tool, ... (NodeContext::once), output, interrupt, resume
  std::string key;
  nlohmann::json value;
};

// A bus event that a node published through its step's journal: an entry of kind "event"
// whose value is {"topic", "payload"} (docs/formats/workflow.md). `id` is the entry's rowid,
// which grows with every journal entry committed and is never reused (journal entries are
// never deleted), so a reader that keeps the last id it consumed sees each event exactly once.
struct PublishedEvent {
  std::int64_t id = 0;
  std::string thread_id;
  std::string topic;
  nlohmann::json payload;
  std::int64_t created_ms = 0;
};

struct PublishedEvents {
  std::vector<PublishedEvent> events;  // oldest first
  // Every journal entry up to this id has been looked at: the reader's next `after_id`.
  std::int64_t scanned_to = 0;
};

// One node's update within a super-step, in the order the runner applied them.
struct StepWrite {
  std::string node;
  Update update;
};

struct StepRecord {
  std::string run_id;
  int step = 0;
  std::int64_t parent = -1;       // the checkpoint the step started from (-1: none)
  const State* before = nullptr;  // null: store `after` in full (a thread's first checkpoint)
  const State* after = nullptr;
  std::vector<StepWrite> writes;
  std::vector<std::string> pending;
  nlohmann::json metadata = nlohmann::json::object();
  std::string run_status;  // non-empty: the run's status changes to this in the same commit
};

class Checkpointer {
 public:
  // Opens state.db (migrating it). Throws a4ps::Error as migrate_state_db does.
  static std::unique_ptr<Checkpointer> open(const std::filesystem::path& state_db,
                                            CheckpointerOptions options = {});
  // Opens state.db for reading only (no migration, no lock needed: WAL lets readers in while
  // a writer works). Throws kNotFound (no file), kFailedPrecondition (a schema older or newer
  // than this build's; the message says how to migrate). Writes fail with kDataLoss.
  static std::unique_ptr<Checkpointer> open_read_only(const std::filesystem::path& state_db);
  // A private in-memory database, for runs that need no durability.
  static std::unique_ptr<Checkpointer> open_in_memory(CheckpointerOptions options = {});
  ~Checkpointer();

  const CheckpointerOptions& options() const { return options_; }

  // Threads. `id` empty: one is generated. Throws kInvalidArgument for a malformed id,
  // kFailedPrecondition when it exists.
  ThreadInfo create_thread(const std::string& id, const std::string& graph,
                           const ChannelSpec& channels, const nlohmann::json& metadata);
  std::optional<ThreadInfo> find_thread(const std::string& id);
  ThreadInfo get_thread(const std::string& id);  // throws kNotFound
  std::vector<ThreadInfo> list_threads();

  // Checkpoints. load(): the latest when `id` is nullopt. Throws kNotFound.
  std::vector<CheckpointInfo> history(const std::string& thread_id);
  Checkpoint load(const std::string& thread_id, std::optional<std::int64_t> id = std::nullopt);
  // Commits the step: its checkpoint (id = parent + 1), the channel changes, `events`, and the
  // run's step count, in one transaction. Throws kFailedPrecondition when the thread already
  // has that checkpoint (history never forks silently). Returns the checkpoint and the events
  // as stored.
  // `channels` must be the thread's (the runner checked its graph against the thread).
  std::pair<CheckpointInfo, std::vector<EventRecord>> commit_step(
      const std::string& thread_id, const ChannelSpec& channels, const StepRecord& record,
      const std::vector<NewEvent>& events);

  // A new thread whose first checkpoint is `thread_id`'s checkpoint `id` (latest if nullopt),
  // with `update` (an object of channels, or null) folded in by the channels' reducers.
  ThreadInfo fork(const std::string& thread_id, std::optional<std::int64_t> id,
                  const nlohmann::json& update, const std::string& new_id);

  // Runs. begin_run() refuses or queues per `policy` when the thread has a live running run,
  // and fails when its latest checkpoint still has pending nodes (resume or fork instead).
  // With PendingWork::kContinue, pending nodes are allowed (a forked thread's first run).
  // `events` are stored in the same transaction (the run's first).
  RunInfo begin_run(const std::string& thread_id, const nlohmann::json& input, BusyPolicy policy,
                    PendingWork pending = PendingWork::kRefuse,
                    const std::vector<NewEvent>& events = {},
                    std::vector<EventRecord>* stored_events = nullptr);
  // Marks an unfinished run running again (for resume), with the same busy rule.
  RunInfo reopen_run(const std::string& run_id, BusyPolicy policy);
  void set_run_status(const std::string& run_id, const std::string& status,
                      const std::string& error = {}, const std::string& error_node = {});
  std::optional<RunInfo> find_run(const std::string& run_id);
  RunInfo get_run(const std::string& run_id);  // throws kNotFound
  // Newest first; empty filters match everything.
  std::vector<RunInfo> list_runs(const std::string& thread_id = {}, const std::string& status = {},
                                 int limit = 100);
  // Marks runs left `running` by processes that are gone as `crashed`; returns them.
  std::vector<RunInfo> recover_crashed_runs();

  // Events: appended in their own transaction; seq is the run's next.
  EventRecord append_event(const std::string& run_id, const NewEvent& event);
  std::vector<EventRecord> events(const std::string& run_id, std::int64_t after_seq = 0,
                                  int limit = 100000);

  // Journal of the step that starts from checkpoint `checkpoint` of the thread.
  std::vector<JournalEntry> journal(const std::string& thread_id, std::int64_t checkpoint);
  // Records an entry and `events`, together. Throws kFailedPrecondition when the entry (node,
  // kind, key) exists: journal entries are written once.
  std::vector<EventRecord> record_journal(const std::string& thread_id, std::int64_t checkpoint,
                                          const std::string& run_id, const JournalEntry& entry,
                                          const std::vector<NewEvent>& events);
  // The sum of the numbers under `fields` (top-level keys of the value) over the thread's
  // journal entries of `kind`, e.g. the tokens its model calls took. Missing fields count 0.
  std::int64_t journal_total(const std::string& thread_id, const std::string& kind,
                             const std::vector<std::string>& fields);
  // The journal entries of `kind` made by the steps of run `run_id`, in the order written.
  struct RunJournalEntry {
    std::int64_t checkpoint = 0;  // the checkpoint the step started from
    JournalEntry entry;
  };
  std::vector<RunJournalEntry> run_journal(const std::string& run_id, const std::string& kind);
  // The bus events journaled after journal entry `after_id`, at most `limit`, oldest first.
  // Entries of other kinds are skipped, and counted as read in `scanned_to`.
  PublishedEvents published_events(std::int64_t after_id, int limit = 256);
  // Interrupts raised at the thread's latest checkpoint that have no resume value yet.
  std::vector<PendingInterrupt> pending_interrupts(const std::string& thread_id);

  // Groups the calls this thread makes while it lives into one transaction (other threads
  // wait). Used where a run starts on a new thread: creating it, starting the run and storing
  // its input commit together. Nothing is stored unless commit() is called.
  class Batch {
   public:
    explicit Batch(Checkpointer& checkpointer);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    void commit();

   private:
    Checkpointer& checkpointer_;
    std::unique_lock<std::recursive_mutex> lock_;
    std::unique_ptr<sql::Transaction> txn_;
  };

  // Bytes the database's pages hold (what a checkpointed state.db takes on disk; the WAL is
  // transient and is not counted).
  std::uint64_t storage_bytes();

 private:
  Checkpointer(std::unique_ptr<sql::Database> db, CheckpointerOptions options);
  RunInfo claim(const std::string& thread_id, BusyPolicy policy,
                const std::function<RunInfo()>& take);
  std::optional<RunInfo> live_run_on(const std::string& thread_id);
  // Inserts within the caller's transaction; remember_seq() after it commits.
  std::vector<EventRecord> insert_events(const std::string& run_id,
                                         const std::vector<NewEvent>& events);
  void remember_seq(const std::vector<EventRecord>& stored);
  void write_channels(const std::string& thread_id, std::int64_t checkpoint,
                      const ChannelSpec& spec, const StepRecord& record);
  void write_full_state(const std::string& thread_id, std::int64_t checkpoint,
                        const ChannelSpec& spec, const State& state);
  State load_state(const std::string& thread_id, const ChannelSpec& spec, std::int64_t id);
  ThreadInfo insert_thread(const ThreadInfo& info);

  const CheckpointerOptions options_;
  // Recursive so that a Batch's thread can make the calls it groups.
  std::recursive_mutex mu_;
  std::unique_ptr<sql::Database> db_;  // guarded by mu_
  // Patches each merge channel has stored since its last full value: "thread\nchannel".
  std::map<std::string, int> merge_patches_;  // guarded by mu_
  // The last committed event seq of each run this object wrote events for.
  std::map<std::string, std::int64_t> last_seq_;  // guarded by mu_
};

// A fresh id such as "t-5f2c9a1e0b3d" (prefix "t" for threads, "r" for runs).
std::string make_id(std::string_view prefix);

}  // namespace a4ps::graph
