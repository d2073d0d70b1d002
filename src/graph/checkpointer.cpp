#include "graph/checkpointer.h"

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "image/sqlite.h"
#include "image/state_db.h"

namespace a4ps::graph {
namespace {

using nlohmann::json;

json parse_stored(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kDataLoss, "state.db: " + what + " is not valid JSON: " + e.what());
  }
}

std::string channels_text(const ChannelSpec& spec) {
  json out = json::object();
  for (const auto& [name, reducer] : spec) out[name] = reducer_name(reducer);
  return stored_json(out);
}

ChannelSpec channels_from_text(const std::string& text, const std::string& thread) {
  ChannelSpec spec;
  const json stored = parse_stored(text, "thread " + thread + " channels");
  if (!stored.is_object()) {
    throw Error(ErrorCode::kDataLoss, "state.db: thread " + thread + " channels: not an object");
  }
  for (const auto& [name, value] : stored.items()) {
    const auto reducer = reducer_from_name(value.is_string() ? value.get<std::string>() : "");
    if (!reducer) {
      throw Error(ErrorCode::kDataLoss,
                  "state.db: thread " + thread + " channel " + name + " has unknown reducer");
    }
    spec[name] = *reducer;
  }
  return spec;
}

void check_thread_id(const std::string& id) {
  const bool ok = !id.empty() && id.size() <= 64 &&
                  id.find_first_not_of(
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") == std::string::npos;
  if (!ok) {
    throw_invalid_argument("thread id \"" + id +
                           "\": expected 1 to 64 letters, digits, '.', '_' or '-'");
  }
}

json pending_json(const std::vector<std::string>& pending) {
  return json(pending);
}

}  // namespace

std::string make_id(std::string_view prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(unix_ms()) ^
                             (static_cast<std::uint64_t>(getpid()) << 32));
  std::uint64_t bits = 0;
  {
    std::lock_guard lock(mu);
    bits = rng();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  id += '-';
  for (int i = 0; i < 12; ++i) id += kHex[(bits >> (4 * i)) & 0xf];
  return id;
}

std::string_view durability_name(Durability durability) {
  return durability == Durability::kSync ? "sync" : "normal";
}

std::optional<Durability> durability_from_name(std::string_view name) {
  if (name == "normal") return Durability::kNormal;
  if (name == "sync") return Durability::kSync;
  return std::nullopt;
}

Checkpointer::Checkpointer(std::unique_ptr<sql::Database> db, CheckpointerOptions options)
    : options_(options), db_(std::move(db)) {}

Checkpointer::~Checkpointer() = default;

std::unique_ptr<Checkpointer> Checkpointer::open(const std::filesystem::path& state_db,
                                                 CheckpointerOptions options) {
  migrate_state_db(state_db);
  auto db = sql::Database::open(state_db.string());
  db->exec(options.durability == Durability::kSync ? "PRAGMA synchronous=FULL"
                                                   : "PRAGMA synchronous=NORMAL",
           "setting durability");
  return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), options));
}

std::unique_ptr<Checkpointer> Checkpointer::open_read_only(const std::filesystem::path& state_db) {
  if (!std::filesystem::exists(state_db)) {
    throw_not_found(state_db.string() + ": no such database");
  }
  auto db = sql::Database::open(state_db.string(), sql::OpenMode::kReadOnly);
  auto q = db->prepare("PRAGMA user_version");
  const std::int64_t version = q.step() ? q.int64(0) : 0;
  if (version != current_state_db_version()) {
    throw Error(
        ErrorCode::kFailedPrecondition,
        state_db.string() + ": schema version " + std::to_string(version) +
            (version < current_state_db_version()
                 ? " is older than this build's " + std::to_string(current_state_db_version()) +
                       "; open the image for writing once to migrate it (a4ps image info)"
                 : " was written by a newer A4PS"));
  }
  return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), {}));
}

std::unique_ptr<Checkpointer> Checkpointer::open_in_memory(CheckpointerOptions options) {
  auto db = sql::Database::open(":memory:");
  migrate_connection(db->handle(), "in-memory state");
  return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), options));
}

ThreadInfo Checkpointer::insert_thread(const ThreadInfo& info) {
  try {
    db_->prepare(
           "INSERT INTO threads (id, graph, channels, metadata, parent_thread, parent_checkpoint,"
           " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, info.id)
        .bind(2, info.graph)
        .bind(3, channels_text(info.channels))
        .bind(4, stored_json(info.metadata))
        .bind(5, info.parent_thread.empty() ? std::optional<std::string>() : info.parent_thread)
        .bind(6, info.parent_checkpoint)
        .bind(7, info.created_ms)
        .bind(8, info.updated_ms)
        .run();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kFailedPrecondition) throw;  // a constraint: the id is taken
    throw Error(ErrorCode::kFailedPrecondition, "thread " + info.id + " already exists");
  }
  return info;
}

ThreadInfo Checkpointer::create_thread(const std::string& id, const std::string& graph,
                                       const ChannelSpec& channels, const json& metadata) {
  ThreadInfo info;
  info.id = id.empty() ? make_id("t") : id;
  check_thread_id(info.id);
  info.graph = graph;
  info.channels = channels;
  info.metadata = metadata.is_object() ? metadata : json::object();
  info.created_ms = info.updated_ms = unix_ms();
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  insert_thread(info);
  txn.commit();
  return info;
}

std::optional<ThreadInfo> Checkpointer::find_thread(const std::string& id) {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT t.id, t.graph, t.channels, t.metadata, t.parent_thread, t.parent_checkpoint,"
      " t.created_ms, max(t.updated_ms, IFNULL(c.created_ms, 0)), c.id FROM threads t LEFT JOIN"
      " (SELECT id, created_ms FROM checkpoints WHERE thread_id = ?1 ORDER BY id DESC LIMIT 1)"
      " AS c WHERE t.id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  ThreadInfo info;
  info.id = q.text(0);
  info.graph = q.text(1);
  info.channels = channels_from_text(q.text(2), info.id);
  info.metadata = parse_stored(q.text(3), "thread " + info.id + " metadata");
  info.parent_thread = q.text(4);
  if (!q.is_null(5)) info.parent_checkpoint = q.int64(5);
  info.created_ms = q.int64(6);
  info.updated_ms = q.int64(7);  // the thread's row, or its latest checkpoint if newer
  info.last_checkpoint = q.is_null(8) ? -1 : q.int64(8);
  return info;
}

ThreadInfo Checkpointer::get_thread(const std::string& id) {
  auto info = find_thread(id);
  if (!info) throw_not_found("thread " + id + ": no such thread (see: a4ps threads list)");
  return *std::move(info);
}

std::vector<ThreadInfo> Checkpointer::list_threads() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    auto q = db_->prepare(
        "SELECT id FROM threads ORDER BY max(updated_ms, IFNULL((SELECT created_ms FROM"
        " checkpoints c WHERE c.thread_id = threads.id ORDER BY c.id DESC LIMIT 1), 0)) DESC, id");
    while (q.step()) ids.push_back(q.text(0));
  }
  std::vector<ThreadInfo> threads;
  for (const std::string& id : ids) {
    if (auto info = find_thread(id)) threads.push_back(*std::move(info));
  }
  return threads;
}

std::vector<CheckpointInfo> Checkpointer::history(const std::string& thread_id) {
  get_thread(thread_id);
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT id, run_id, step, pending, metadata, created_ms FROM checkpoints"
      " WHERE thread_id = ? ORDER BY id");
  q.bind(1, thread_id);
  std::vector<CheckpointInfo> out;
  while (q.step()) {
    CheckpointInfo c;
    c.thread_id = thread_id;
    c.id = q.int64(0);
    if (c.id > 0) c.parent = c.id - 1;
    c.run_id = q.text(1);
    c.step = static_cast<int>(q.int64(2));
    c.pending = parse_stored(q.text(3), "checkpoint pending").get<std::vector<std::string>>();
    c.metadata = parse_stored(q.text(4), "checkpoint metadata");
    c.created_ms = q.int64(5);
    out.push_back(std::move(c));
  }
  return out;
}

Checkpoint Checkpointer::load(const std::string& thread_id, std::optional<std::int64_t> id) {
  const ThreadInfo thread = get_thread(thread_id);
  const std::int64_t target = id.value_or(thread.last_checkpoint);
  if (target < 0 || target > thread.last_checkpoint) {
    throw_not_found("thread " + thread_id + " has no checkpoint " + std::to_string(target) +
                    (thread.last_checkpoint < 0
                         ? " (it has none yet)"
                         : " (it has 0 to " + std::to_string(thread.last_checkpoint) + ")"));
  }
  Checkpoint cp;
  {
    std::lock_guard lock(mu_);
    auto q = db_->prepare(
        "SELECT run_id, step, pending, metadata, created_ms FROM checkpoints"
        " WHERE thread_id = ? AND id = ?");
    q.bind(1, thread_id).bind(2, target);
    if (!q.step()) {
      throw Error(ErrorCode::kDataLoss, "state.db: thread " + thread_id + " checkpoint " +
                                            std::to_string(target) + " is missing");
    }
    cp.info.thread_id = thread_id;
    cp.info.id = target;
    if (target > 0) cp.info.parent = target - 1;
    cp.info.run_id = q.text(0);
    cp.info.step = static_cast<int>(q.int64(1));
    cp.info.pending = parse_stored(q.text(2), "checkpoint pending").get<std::vector<std::string>>();
    cp.info.metadata = parse_stored(q.text(3), "checkpoint metadata");
    cp.info.created_ms = q.int64(4);
    cp.state = load_state(thread_id, thread.channels, target);
  }
  return cp;
}

State Checkpointer::load_state(const std::string& thread_id, const ChannelSpec& spec,
                               std::int64_t id) {
  State state = State::object();
  for (const auto& [channel, reducer] : spec) {
    json& value = state[channel];
    if (reducer == Reducer::kAppend) {
      value = json::array();
      auto q = db_->prepare(
          "SELECT value FROM channel_items WHERE thread_id = ? AND channel = ?"
          " AND checkpoint_id <= ? ORDER BY idx");
      q.bind(1, thread_id).bind(2, channel).bind(3, id);
      while (q.step()) value.push_back(parse_stored(q.text(0), "channel " + channel + " item"));
      continue;
    }
    // The latest full value at or before the checkpoint, then the patches after it.
    auto q = db_->prepare(
        "SELECT kind, value FROM channel_values WHERE thread_id = ?1 AND channel = ?2"
        " AND checkpoint_id <= ?3 AND checkpoint_id >= IFNULL((SELECT max(checkpoint_id)"
        " FROM channel_values WHERE thread_id = ?1 AND channel = ?2 AND kind = 'full'"
        " AND checkpoint_id <= ?3), 0) ORDER BY checkpoint_id, ord");
    q.bind(1, thread_id).bind(2, channel).bind(3, id);
    while (q.step()) {
      json stored = parse_stored(q.text(1), "channel " + channel + " value");
      if (q.text(0) == "full") {
        value = std::move(stored);
      } else {
        reduce_channel(Reducer::kMerge, "state.db", channel, value, stored);
      }
    }
  }
  return state;
}

void Checkpointer::write_full_state(const std::string& thread_id, std::int64_t checkpoint,
                                    const ChannelSpec& spec, const State& state) {
  for (const auto& [channel, reducer] : spec) {
    const json& value = state.contains(channel) ? state.at(channel) : json();
    if (reducer == Reducer::kAppend) {
      std::int64_t idx = 0;
      for (const json& item : value.is_array() ? value : json::array()) {
        db_->prepare(
               "INSERT INTO channel_items (thread_id, channel, idx, checkpoint_id, value)"
               " VALUES (?, ?, ?, ?, ?)")
            .bind(1, thread_id)
            .bind(2, channel)
            .bind(3, idx++)
            .bind(4, checkpoint)
            .bind(5, stored_json(item))
            .run();
      }
      continue;
    }
    db_->prepare(
           "INSERT INTO channel_values (thread_id, channel, checkpoint_id, ord, kind, value)"
           " VALUES (?, ?, ?, 0, 'full', ?)")
        .bind(1, thread_id)
        .bind(2, channel)
        .bind(3, checkpoint)
        .bind(4, stored_json(value))
        .run();
    merge_patches_[thread_id + "\n" + channel] = 0;
  }
}

void Checkpointer::write_channels(const std::string& thread_id, std::int64_t checkpoint,
                                  const ChannelSpec& spec, const StepRecord& record) {
  std::map<std::string, std::int64_t> next_idx;  // append channel -> index of its next item
  std::int64_t ord = 0;
  std::set<std::string> merged_full;  // merge channels given a full value at this checkpoint
  for (const StepWrite& write : record.writes) {
    if (!write.update.is_object()) continue;
    for (const auto& [channel, value] : write.update.items()) {
      const auto it = spec.find(channel);
      if (it == spec.end()) continue;  // the runner rejected it already
      if (it->second == Reducer::kAppend) {
        auto [pos, fresh] = next_idx.emplace(channel, 0);
        if (fresh) pos->second = static_cast<std::int64_t>(record.before->at(channel).size());
        for (const json& item : value.is_array() ? value : json::array({value})) {
          db_->prepare(
                 "INSERT INTO channel_items (thread_id, channel, idx, checkpoint_id, value)"
                 " VALUES (?, ?, ?, ?, ?)")
              .bind(1, thread_id)
              .bind(2, channel)
              .bind(3, pos->second++)
              .bind(4, checkpoint)
              .bind(5, stored_json(item))
              .run();
        }
        continue;
      }
      std::string kind = "full";
      const json* stored = &value;
      if (it->second == Reducer::kMerge) {
        if (merged_full.contains(channel)) continue;
        int& patches = merge_patches_[thread_id + "\n" + channel];
        if (++patches >= options_.merge_full_every) {
          patches = 0;
          merged_full.insert(channel);
          stored = &record.after->at(channel);
        } else {
          kind = "patch";
        }
      }
      db_->prepare(
             "INSERT INTO channel_values (thread_id, channel, checkpoint_id, ord, kind, value)"
             " VALUES (?, ?, ?, ?, ?, ?)")
          .bind(1, thread_id)
          .bind(2, channel)
          .bind(3, checkpoint)
          .bind(4, ord++)
          .bind(5, kind)
          .bind(6, stored_json(*stored))
          .run();
    }
  }
}

std::pair<CheckpointInfo, std::vector<EventRecord>> Checkpointer::commit_step(
    const std::string& thread_id, const ChannelSpec& channels, const StepRecord& record,
    const std::vector<NewEvent>& events) {
  CheckpointInfo info;
  info.thread_id = thread_id;
  info.id = record.parent + 1;
  if (record.parent >= 0) info.parent = record.parent;
  info.run_id = record.run_id;
  info.step = record.step;
  info.pending = record.pending;
  info.metadata = record.metadata;
  info.created_ms = unix_ms();
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  try {
    db_->prepare(
           "INSERT INTO checkpoints (thread_id, id, run_id, step, pending, metadata, created_ms)"
           " VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(1, thread_id)
        .bind(2, info.id)
        .bind(3, record.run_id)
        .bind(4, record.step)
        .bind(5, stored_json(pending_json(record.pending)))
        .bind(6, stored_json(record.metadata))
        .bind(7, info.created_ms)
        .run();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kFailedPrecondition) throw;  // the (thread, id) key is taken
    throw Error(ErrorCode::kFailedPrecondition,
                "thread " + thread_id + " already has checkpoint " + std::to_string(info.id) +
                    ": another writer moved it on (history is never forked silently)");
  }
  if (record.before == nullptr) {
    write_full_state(thread_id, info.id, channels, *record.after);
  } else {
    write_channels(thread_id, info.id, channels, record);
  }
  std::vector<EventRecord> stored;
  if (!record.run_id.empty()) {
    db_->prepare(
           "UPDATE runs SET steps = max(steps, ?), status = IFNULL(?, status), updated_ms = ?"
           " WHERE id = ?")
        .bind(1, record.step)
        .bind(2, record.run_status.empty() ? std::optional<std::string>() : record.run_status)
        .bind(3, info.created_ms)
        .bind(4, record.run_id)
        .run();
    stored = insert_events(record.run_id, events);
  }
  txn.commit();
  remember_seq(stored);
  return {info, stored};
}

ThreadInfo Checkpointer::fork(const std::string& thread_id, std::optional<std::int64_t> id,
                              const json& update, const std::string& new_id) {
  const ThreadInfo source = get_thread(thread_id);
  Checkpoint cp = load(thread_id, id);
  if (!update.is_null() && !update.is_object()) {
    throw_invalid_argument("fork update must be a JSON object of channels, got " +
                           std::string(update.type_name()));
  }
  if (update.is_object()) {
    for (const auto& [channel, value] : update.items()) {
      const auto it = source.channels.find(channel);
      if (it == source.channels.end()) {
        throw_invalid_argument("fork update names channel " + channel + ", which thread " +
                               thread_id + " lacks");
      }
      reduce_channel(it->second, "fork", channel, cp.state[channel], value);
    }
  }
  ThreadInfo info;
  info.id = new_id.empty() ? make_id("t") : new_id;
  check_thread_id(info.id);
  info.graph = source.graph;
  info.channels = source.channels;
  info.metadata = source.metadata;
  info.parent_thread = thread_id;
  info.parent_checkpoint = cp.info.id;
  info.created_ms = info.updated_ms = unix_ms();
  const json metadata = {{"source", "fork"},
                         {"from", {{"thread", thread_id}, {"checkpoint", cp.info.id}}},
                         {"update", update}};
  std::lock_guard lock(mu_);
  sql::Transaction txn(*db_);
  insert_thread(info);
  db_->prepare(
         "INSERT INTO checkpoints (thread_id, id, run_id, step, pending, metadata, created_ms)"
         " VALUES (?, 0, NULL, 0, ?, ?, ?)")
      .bind(1, info.id)
      .bind(2, stored_json(pending_json(cp.info.pending)))
      .bind(3, stored_json(metadata))
      .bind(4, info.created_ms)
      .run();
  write_full_state(info.id, 0, info.channels, cp.state);
  txn.commit();
  info.last_checkpoint = 0;
  return info;
}

Checkpointer::Batch::Batch(Checkpointer& checkpointer)
    : checkpointer_(checkpointer), lock_(checkpointer.mu_) {
  txn_ = std::make_unique<sql::Transaction>(*checkpointer_.db_);
}

Checkpointer::Batch::~Batch() {
  if (!txn_) return;
  txn_.reset();                     // rolls back
  checkpointer_.last_seq_.clear();  // it may have counted events that were not stored
}

void Checkpointer::Batch::commit() {
  txn_->commit();
  txn_.reset();
}

std::uint64_t Checkpointer::storage_bytes() {
  std::lock_guard lock(mu_);
  auto q = db_->prepare(
      "SELECT (SELECT page_count FROM pragma_page_count()) -"
      " (SELECT freelist_count FROM pragma_freelist_count()),"
      " (SELECT page_size FROM pragma_page_size())");
  if (!q.step()) return 0;
  return static_cast<std::uint64_t>(q.int64(0) * q.int64(1));
}

}  // namespace a4ps::graph
