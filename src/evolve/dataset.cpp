#include "evolve/dataset.h"

#include <algorithm>
#include <map>
#include <set>
#include <system_error>

#include "core/error.h"
#include "core/files.h"
#include "core/hash.h"

namespace a4ps::evolve {
namespace {

using nlohmann::json;

// Where in [0, 1) an example's content hash falls: its held-out lot, fixed for ever.
double lot_of(const std::string& sha256_hex_digest) {
  return static_cast<double>(std::stoull(sha256_hex_digest.substr(0, 12), nullptr, 16)) /
         static_cast<double>(1ull << 48);
}

std::string splits_sha256(const std::string& train, const std::string& held_out) {
  return sha256_hex("train\n" + train + "held_out\n" + held_out);
}

std::string lines_of(const std::vector<ChatExample>& examples) {
  std::string text;
  for (const ChatExample& e : examples) text += chat_example_line(e) + "\n";
  return text;
}

// The content hashes of the examples earlier versions of `persona` held out and trained on.
struct EarlierSplits {
  std::set<std::string> held_out;
  std::set<std::string> train;
};
EarlierSplits earlier_splits(EvolveStore& store, const std::filesystem::path& image_dir,
                             const std::string& persona) {
  EarlierSplits out;
  for (const DatasetRecord& d : store.datasets(persona)) {
    const std::filesystem::path dir = dataset_dir(image_dir, persona, d.version);
    for (const auto& [name, set] :
         {std::pair{"held_out.jsonl", &out.held_out}, std::pair{"train.jsonl", &out.train}}) {
      std::error_code ec;
      if (!std::filesystem::exists(dir / name, ec)) continue;
      for (const ChatExample& e : read_chat_jsonl(dir / name))
        set->insert(sha256_hex(chat_example_line(e)));
    }
  }
  return out;
}

// The turn a judgement names, found in its thread's journal.
std::optional<json> journaled_turn(graph::Checkpointer& checkpointer, const std::string& thread,
                                   const json& ref) {
  const std::int64_t checkpoint = ref.value("checkpoint", std::int64_t{-1});
  for (const graph::JournalEntry& e : checkpointer.journal(thread, checkpoint)) {
    if (e.kind == "model" && e.node == ref.value("node", "") && e.key == ref.value("key", "")) {
      return e.value;
    }
  }
  return std::nullopt;
}

}  // namespace

std::filesystem::path dataset_dir(const std::filesystem::path& image_dir,
                                  const std::string& persona, std::int64_t version) {
  return image_dir / "datasets" / persona / ("v" + std::to_string(version));
}

DatasetBuild build_dataset(EvolveStore& store, graph::Checkpointer& checkpointer,
                           const Persona& persona, const std::filesystem::path& image_dir,
                           double held_out_fraction, std::int64_t min_examples) {
  DatasetBuild build;
  const std::string system = persona.full_system_prompt();
  const std::string system_sha = sha256_hex(system);
  std::map<std::string, ChatExample> unique;  // by content hash: deterministic order
  std::set<std::string> runs;
  std::vector<std::int64_t> ids;
  std::int64_t newest = 0;
  for (const Judgement& j : store.judgements(persona.id, /*golden_only=*/true, 1000000)) {
    ids.push_back(j.id);
    newest = std::max(newest, j.id);
    runs.insert(j.run_id);
    for (const json& ref : j.turns) {
      const std::optional<json> turn = journaled_turn(checkpointer, j.thread_id, ref);
      if (!turn || turn->value("input", "").empty() || turn->value("stop", "") == "deadline") {
        ++build.skipped_incomplete;
        continue;
      }
      if (turn->value("system_sha256", "") != system_sha) {
        ++build.skipped_other_codex;
        continue;
      }
      ChatExample e = {{llm::Role::kSystem, system},
                       {llm::Role::kUser, turn->value("input", "")},
                       {llm::Role::kAssistant, turn->value("text", "")}};
      if (!unique.emplace(sha256_hex(chat_example_line(e)), std::move(e)).second)
        ++build.duplicates;
    }
  }
  if (static_cast<std::int64_t>(unique.size()) < min_examples) {
    throw Error(ErrorCode::kFailedPrecondition,
                persona.name + " has " + std::to_string(unique.size()) +
                    " usable golden turns; a dataset needs [evolve] min_examples = " +
                    std::to_string(min_examples) +
                    " (judge more finished episodes with `a4ps evolve judge`)");
  }
  // An example keeps the side an earlier version put it on; a new one goes by its lot.
  const EarlierSplits earlier = earlier_splits(store, image_dir, persona.id);
  std::set<std::string> hold;
  for (const auto& [hash, example] : unique) {
    if (earlier.held_out.count(hash) > 0 ||
        (earlier.train.count(hash) == 0 && lot_of(hash) < held_out_fraction)) {
      hold.insert(hash);
    }
  }
  // A dataset too small for its fraction still holds out one new example (the first by hash),
  // which every later version then keeps held out too.
  if (hold.empty() && held_out_fraction > 0.0 && unique.size() >= 2) {
    for (const auto& [hash, example] : unique) {
      if (earlier.train.count(hash) == 0) {
        hold.insert(hash);
        break;
      }
    }
  }
  std::vector<ChatExample> train;
  std::vector<ChatExample> held_out;
  for (const auto& [hash, example] : unique)
    (hold.count(hash) > 0 ? held_out : train).push_back(example);
  if (train.empty() || held_out.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                persona.name + "'s " + std::to_string(unique.size()) +
                    " golden turns cannot be split into a training and a held-out part with "
                    "[evolve] held_out_fraction = " +
                    std::to_string(held_out_fraction) +
                    " (it needs at least 2 examples and a fraction above 0)");
  }
  DatasetRecord& r = build.record;
  r.persona = persona.id;
  r.version = store.next_dataset_version(persona.id);
  r.n_train = static_cast<std::int64_t>(train.size());
  r.n_held_out = static_cast<std::int64_t>(held_out.size());
  r.judgements = ids;
  r.newest_judgement = newest;
  const std::string train_text = lines_of(train);
  const std::string held_text = lines_of(held_out);
  r.sha256 = splits_sha256(train_text, held_text);
  build.dir = dataset_dir(image_dir, persona.id, r.version);
  // A folder of this version without a row was left by a crash before the row was written.
  std::error_code ec;
  std::filesystem::remove_all(build.dir, ec);
  std::filesystem::create_directories(build.dir, ec);
  write_file_durably(build.dir / "train.jsonl", train_text);
  write_file_durably(build.dir / "held_out.jsonl", held_text);
  const json manifest = {{"format_version", kDatasetFormatVersion},
                         {"persona", persona.id},
                         {"version", r.version},
                         {"sha256", r.sha256},
                         {"n_train", r.n_train},
                         {"n_held_out", r.n_held_out},
                         {"held_out_fraction", held_out_fraction},
                         {"system_sha256", system_sha},
                         {"judgements", ids},
                         {"episodes", std::vector<std::string>(runs.begin(), runs.end())},
                         {"skipped",
                          {{"duplicates", build.duplicates},
                           {"other_codex", build.skipped_other_codex},
                           {"incomplete", build.skipped_incomplete}}}};
  write_file_durably(build.dir / "manifest.json", manifest.dump(2) + "\n");
  r = store.add_dataset(r);
  return build;
}

DatasetFiles read_dataset(const std::filesystem::path& image_dir, const DatasetRecord& record) {
  const std::filesystem::path dir = dataset_dir(image_dir, record.persona, record.version);
  const std::string train_text = read_file(dir / "train.jsonl");
  const std::string held_text = read_file(dir / "held_out.jsonl");
  if (splits_sha256(train_text, held_text) != record.sha256) {
    throw Error(ErrorCode::kDataLoss, dir.string() +
                                          ": its files do not match the SHA-256 the dataset was "
                                          "recorded with (changed or damaged); make a new version");
  }
  return {read_chat_jsonl(dir / "train.jsonl"), read_chat_jsonl(dir / "held_out.jsonl")};
}

}  // namespace a4ps::evolve
