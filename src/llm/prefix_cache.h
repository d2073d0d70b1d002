// llm/prefix_cache: the persona prefix cache. Holds llama.cpp sequence states (the KV cache
// after a persona's system prompt) so that persona's next turn restores them instead of
// re-reading its codex. Bounded in bytes, least-recently-used entries evicted first.
// Thread-safe: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace a4ps::llm {

class PrefixCache {
 public:
  using State = std::vector<uint8_t>;

  // `persist_dir`, when not empty, keeps every stored state on disk too (one file per key,
  // written atomically), so a later process restores it instead of re-reading the prompt.
  // The directory is not bounded: it is for users who choose to trade disk for start-up time.
  explicit PrefixCache(size_t capacity_bytes, std::filesystem::path persist_dir = {});

  // The state stored under `key` (now the most recently used), or nullptr; counts a hit or a
  // miss. With a persist directory, a key missing from RAM is looked up on disk; an unreadable
  // or foreign file there is ignored (a miss).
  std::shared_ptr<const State> find(const std::string& key);

  // Stores `state`, evicting least-recently-used entries to fit. A state larger than the whole
  // capacity is not stored.
  void insert(const std::string& key, State state);

  // Drops every entry in RAM whose key starts with `key_prefix`. Persisted files are never
  // wrong (their key names model file, adapters and settings) and stay.
  void erase_prefix(const std::string& key_prefix);

  size_t bytes() const;
  size_t entries() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const State> state;
  };
  void evict_until_fits(size_t incoming_bytes);                                    // requires mu_
  void insert_locked(const std::string& key, std::shared_ptr<const State> state);  // requires mu_
  std::filesystem::path file_for(const std::string& key) const;
  std::shared_ptr<const State> read_persisted(const std::string& key) const;
  void write_persisted(const std::string& key, const State& state) const;

  const size_t capacity_bytes_;
  const std::filesystem::path persist_dir_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used; guarded by mu_
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;  // guarded by mu_
  size_t bytes_ = 0;                                                   // guarded by mu_
  uint64_t hits_ = 0;                                                  // guarded by mu_
  uint64_t misses_ = 0;                                                // guarded by mu_
};

}  // namespace a4ps::llm
