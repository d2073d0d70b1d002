// The Checkpointer's runs, events and journal (checkpointer.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "graph/checkpointer.h"
#include "image/sqlite.h"

namespace a4ps::graph {
namespace {

using nlohmann::json;

bool process_alive(std::int64_t pid) {
  return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

constexpr const char* kRunColumns =
    "id, thread_id, status, input, steps, error, error_node, pid, created_ms, updated_ms";

RunInfo read_run(const sql::Query& q) {
  RunInfo run;
  run.id = q.text(0);
  run.thread_id = q.text(1);
  run.status = q.text(2);
  try {
    run.input = json::parse(q.text(3));
  } catch (const json::exception&) {
    run.input = q.text(3);
  }
  run.steps = static_cast<int>(q.int64(4));
  run.error = q.text(5);
  run.error_node = q.text(6);
  run.pid = q.int64(7);
  run.created_ms = q.int64(8);
  run.updated_ms = q.int64(9);
  // Readers see the truth before the next writer marks it.
  if (run.status == "running" && !process_alive(run.pid)) run.status = "crashed";
  return run;
}

json parse_or_string(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return text;
  }
}

}  // namespace

std::optional<RunInfo> Checkpointer::live_run_on(const std::string& thread_id) {
  auto q = db_->prepare(std::string("SELECT ") + kRunColumns +
                        " FROM runs WHERE thread_id = ? AND status = 'running'");
  q.bind(1, thread_id);
  std::vector<RunInfo> running;
  while (q.step()) running.push_back(read_run(q));
  std::optional<RunInfo> live;
  for (RunInfo& run : running) {
    if (process_alive(run.pid)) {
      live = run;
      continue;
    }
    db_->prepare("UPDATE runs SET status = 'crashed', updated_ms = ? WHERE id = ?")
        .bind(1, unix_ms())
        .bind(2, run.id)
        .run();
  }
  return live;
}

RunInfo Checkpointer::claim(const std::string& thread_id, BusyPolicy policy,
                            const std::function<RunInfo()>& take) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.queue_timeout_ms);
  for (;;) {
    std::optional<RunInfo> busy;
    {
      std::lock_guard lock(mu_);
      sql::Transaction txn(*db_);
      busy = live_run_on(thread_id);
      if (!busy) {
        RunInfo run = take();
        txn.commit();
        return run;
      }
      txn.commit();  // keeps the crashed marks
    }
    const std::string what = "thread " + thread_id + " is busy: run " + busy->id +
                             " is running on it (pid " + std::to_string(busy->pid) + ")";
    if (policy == BusyPolicy::kRefuse) {
      throw Error(ErrorCode::kFailedPrecondition,
                  what + "; one run writes a thread at a time: wait for it, or fork the thread");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(
          ErrorCode::kDeadlineExceeded,
          what + "; gave up waiting after " + std::to_string(options_.queue_timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RunInfo Checkpointer::begin_run(const std::string& thread_id, const json& input, BusyPolicy policy,
                                PendingWork pending_work, const std::vector<NewEvent>& events,
                                std::vector<EventRecord>* stored_events) {
  get_thread(thread_id);
  std::vector<EventRecord> stored;
  RunInfo started = claim(thread_id, policy, [&] {
    auto pending = db_->prepare(
        "SELECT id, pending FROM checkpoints WHERE thread_id = ? ORDER BY id DESC LIMIT 1");
    pending.bind(1, thread_id);
    if (pending_work == PendingWork::kRefuse && pending.step() && pending.text(1) != "[]") {
      throw Error(ErrorCode::kFailedPrecondition,
                  "thread " + thread_id + " has unfinished work at checkpoint " +
                      std::to_string(pending.int64(0)) + " (pending " + pending.text(1) +
                      "): continue it with `a4ps resume " + thread_id +
                      "`, or fork the thread to start something else");
    }
    RunInfo run;
    run.id = make_id("r");
    run.thread_id = thread_id;
    run.status = "running";
    run.input = input;
    run.pid = getpid();
    run.created_ms = run.updated_ms = unix_ms();
    db_->prepare(
           "INSERT INTO runs (id, thread_id, status, input, steps, pid, created_ms, updated_ms)"
           " VALUES (?, ?, 'running', ?, 0, ?, ?, ?)")
        .bind(1, run.id)
        .bind(2, thread_id)
        .bind(3, stored_json(input))
        .bind(4, run.pid)
        .bind(5, run.created_ms)
        .bind(6, run.updated_ms)
        .run();
    stored = insert_events(run.id, events);
    return run;
  });
  remember_seq(stored);
  if (stored_events != nullptr) *stored_events = std::move(stored);
  return started;
}

RunInfo Checkpointer::reopen_run(const std::string& run_id, BusyPolicy policy) {
  const RunInfo existing = get_run(run_id);
  if (existing.status == "done") {
    throw Error(ErrorCode::kFailedPrecondition,
                "run " + run_id + " is done; there is nothing to resume");
  }
  return claim(existing.thread_id, policy, [&] {
    RunInfo run = existing;
    run.status = "running";
    run.pid = getpid();
    run.updated_ms = unix_ms();
    db_->prepare("UPDATE runs SET status = 'running', pid = ?, updated_ms = ? WHERE id = ?")
        .bind(1, run.pid)
        .bind(2, run.updated_ms)
        .bind(3, run_id)
        .run();
    return run;
  });
}

void Checkpointer::set_run_status(const std::string& run_id, const std::string& status,
                                  const std::string& error, const std::string& error_node) {
  std::lock_guard lock(mu_);
  db_->prepare("UPDATE runs SET status = ?, error = ?, error_node = ?, updated_ms = ? WHERE id = ?")
      .bind(1, status)
      .bind(2, error.empty() ? std::optional<std::string>() : error)
      .bind(3, error_node.empty() ? std::optional<std::string>() : error_node)
      .bind(4, unix_ms())
      .bind(5, run_id)
      .run();
}

std::optional<RunInfo> Checkpointer::find_run(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  return read_run(q);
}

RunInfo Checkpointer::get_run(const std::string& run_id) {
  auto run = find_run(run_id);
  if (!run) throw_not_found("run " + run_id + ": no such run (see: a4ps runs list)");
  return *std::move(run);
}

std::vector<RunInfo> Checkpointer::list_runs(const std::string& thread_id,
                                             const std::string& status, int limit) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(std::string("SELECT ") + kRunColumns +
                        " FROM runs WHERE (?1 = '' OR thread_id = ?1) AND (?2 = '' OR status = "
                        "?2) ORDER BY created_ms DESC, rowid DESC LIMIT ?3");
  q.bind(1, thread_id).bind(2, status).bind(3, static_cast<std::int64_t>(limit));
  std::vector<RunInfo> runs;
  while (q.step()) runs.push_back(read_run(q));
  return runs;
}

std::vector<RunInfo> Checkpointer::recover_crashed_runs() {
  std::vector<std::string> threads;
  {
    std::lock_guard lock(mu_);
    auto q = db_->prepare("SELECT DISTINCT thread_id FROM runs WHERE status = 'running'");
    while (q.step()) threads.push_back(q.text(0));
    sql::Transaction txn(*db_);
    for (const std::string& thread : threads) live_run_on(thread);
    txn.commit();
  }
  std::vector<RunInfo> crashed;
  for (const std::string& thread : threads) {
    for (RunInfo& run : list_runs(thread, "crashed", 1000)) crashed.push_back(std::move(run));
  }
  return crashed;
}

std::vector<EventRecord> Checkpointer::insert_events(const std::string& run_id,
                                                     const std::vector<NewEvent>& events) {
  std::vector<EventRecord> stored;
  if (events.empty()) return stored;
  std::int64_t seq = 0;
  if (const auto known = last_seq_.find(run_id); known != last_seq_.end()) {
    seq = known->second;
  } else {
    auto last = db_->prepare("SELECT IFNULL(max(seq), 0) FROM events WHERE run_id = ?");
    last.bind(1, run_id);
    if (last.step()) seq = last.int64(0);
  }
  const std::int64_t ts = unix_ms();
  for (const NewEvent& e : events) {
    EventRecord record{run_id, ++seq, ts, e.kind, e.data};
    db_->prepare("INSERT INTO events (run_id, seq, ts_ms, kind, data) VALUES (?, ?, ?, ?, ?)")
        .bind(1, run_id)
        .bind(2, record.seq)
        .bind(3, ts)
        .bind(4, e.kind)
        .bind(5, stored_json(e.data))
        .run();
    stored.push_back(std::move(record));
  }
  return stored;
}

void Checkpointer::remember_seq(const std::vector<EventRecord>& stored) {
  if (!stored.empty()) last_seq_[stored.back().run_id] = stored.back().seq;
}

EventRecord Checkpointer::append_event(const std::string& run_id, const NewEvent& event) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  auto stored = insert_events(run_id, {event});
  txn.commit();
  remember_seq(stored);
  return stored.front();
}

std::vector<EventRecord> Checkpointer::events(const std::string& run_id, std::int64_t after_seq,
                                              int limit) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT seq, ts_ms, kind, data FROM events WHERE run_id = ? AND seq > ?"
      " ORDER BY seq LIMIT ?");
  q.bind(1, run_id).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
  std::vector<EventRecord> out;
  while (q.step()) {
    out.push_back({run_id, q.int64(0), q.int64(1), q.text(2), parse_or_string(q.text(3))});
  }
  return out;
}

std::vector<JournalEntry> Checkpointer::journal(const std::string& thread_id,
                                                std::int64_t checkpoint) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT node, kind, key, value FROM journal WHERE thread_id = ? AND checkpoint_id = ?"
      " ORDER BY created_ms, node, kind, key");
  q.bind(1, thread_id).bind(2, checkpoint);
  std::vector<JournalEntry> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), parse_or_string(q.text(3))});
  return out;
}

std::int64_t Checkpointer::journal_total(const std::string& thread_id, const std::string& kind,
                                         const std::vector<std::string>& fields) {
  std::lock_guard lock(mu_);
  std::int64_t total = 0;
  for (const std::string& field : fields) {
    auto q = db_->prepare(
        "SELECT COALESCE(SUM(json_extract(value, ?)), 0) FROM journal"
        " WHERE thread_id = ? AND kind = ? AND json_valid(value)");
    q.bind(1, "$.\"" + field + "\"").bind(2, thread_id).bind(3, kind);
    if (q.step()) total += q.int64(0);
  }
  return total;
}

std::vector<Checkpointer::RunJournalEntry> Checkpointer::run_journal(const std::string& run_id,
                                                                     const std::string& kind) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT j.checkpoint_id, j.node, j.key, j.value FROM journal j JOIN checkpoints c"
      " ON c.thread_id = j.thread_id AND c.id = j.checkpoint_id"
      " WHERE c.run_id = ? AND j.kind = ? ORDER BY j.rowid");
  q.bind(1, run_id).bind(2, kind);
  std::vector<RunJournalEntry> out;
  while (q.step()) {
    RunJournalEntry e;
    e.checkpoint = q.int64(0);
    e.entry.node = q.text(1);
    e.entry.kind = kind;
    e.entry.key = q.text(2);
    e.entry.value = nlohmann::json::parse(q.text(3), nullptr, /*allow_exceptions=*/false);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<EventRecord> Checkpointer::record_journal(const std::string& thread_id,
                                                      std::int64_t checkpoint,
                                                      const std::string& run_id,
                                                      const JournalEntry& entry,
                                                      const std::vector<NewEvent>& events) {
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  // Plain INSERT: a journal entry is written once; writing it again would mean a call ran twice.
  db_->prepare(
         "INSERT INTO journal (thread_id, checkpoint_id, node, kind, key, value,"
         " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, thread_id)
      .bind(2, checkpoint)
      .bind(3, entry.node)
      .bind(4, entry.kind)
      .bind(5, entry.key)
      .bind(6, stored_json(entry.value))
      .bind(7, unix_ms())
      .run();
  std::vector<EventRecord> stored = insert_events(run_id, events);
  txn.commit();
  remember_seq(stored);
  return stored;
}

PublishedEvents Checkpointer::published_events(std::int64_t after_id, int limit) {
  limit = std::max(limit, 1);
  std::lock_guard lock(mu_);
  PublishedEvents out;
  // The highest id first, in its own snapshot: every entry up to it is committed (ids are
  // taken under the write lock), so after reading up to it nothing below it can appear.
  auto top = db_->prepare("SELECT IFNULL(max(rowid), 0) FROM journal");
  const std::int64_t high = top.step() ? top.int64(0) : 0;
  out.scanned_to = std::max(after_id, high);
  auto q = db_->prepare(
      "SELECT rowid, thread_id, value, created_ms FROM journal WHERE rowid > ? AND rowid <= ?"
      " AND kind = 'event' ORDER BY rowid LIMIT ?");
  q.bind(1, after_id).bind(2, high).bind(3, static_cast<std::int64_t>(limit));
  while (q.step()) {
    const json value = parse_or_string(q.text(2));
    PublishedEvent e;
    e.id = q.int64(0);
    e.thread_id = q.text(1);
    e.topic = value.is_object() ? value.value("topic", "") : "";
    e.payload = value.is_object() && value.contains("payload") ? value["payload"] : json();
    e.created_ms = q.int64(3);
    out.events.push_back(std::move(e));
  }
  if (out.events.size() == static_cast<size_t>(limit)) {
    out.scanned_to = out.events.back().id;  // more may follow
  }
  return out;
}

std::vector<PendingInterrupt> Checkpointer::pending_interrupts(const std::string& thread_id) {
  const ThreadInfo thread = get_thread(thread_id);
  std::vector<PendingInterrupt> out;
  if (thread.last_checkpoint < 0) return out;
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT i.key, i.node, i.value FROM journal i WHERE i.thread_id = ?1 AND"
      " i.checkpoint_id = ?2 AND i.kind = 'interrupt' AND NOT EXISTS (SELECT 1 FROM journal r"
      " WHERE r.thread_id = ?1 AND r.checkpoint_id = ?2 AND r.kind = 'resume' AND"
      " r.key = i.key) ORDER BY i.key");
  q.bind(1, thread_id).bind(2, thread.last_checkpoint);
  while (q.step()) {
    out.push_back({q.text(0), q.text(1), thread.last_checkpoint, parse_or_string(q.text(2))});
  }
  return out;
}

}  // namespace a4ps::graph
