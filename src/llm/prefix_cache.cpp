#include "llm/prefix_cache.h"

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

namespace a4ps::llm {

// File layout: the key, a newline, then the raw state bytes.
PrefixCache::PrefixCache(size_t capacity_bytes, std::filesystem::path persist_dir)
    : capacity_bytes_(capacity_bytes), persist_dir_(std::move(persist_dir)) {
  if (!persist_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(persist_dir_, ec);
    if (ec) {
      throw Error(ErrorCode::kUnavailable,
                  persist_dir_.string() + ": cannot create the prefix-cache directory");
    }
  }
}

std::filesystem::path PrefixCache::file_for(const std::string& key) const {
  return persist_dir_ / (hex64(fnv1a(key)) + ".kvstate");
}

std::shared_ptr<const PrefixCache::State> PrefixCache::read_persisted(
    const std::string& key) const {
  std::ifstream in(file_for(key), std::ios::binary);
  std::string stored_key;
  if (!in || !std::getline(in, stored_key) || stored_key != key) return nullptr;
  State state((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::make_shared<const State>(std::move(state));
}

void PrefixCache::write_persisted(const std::string& key, const State& state) const {
  const std::filesystem::path file = file_for(key);
  const std::filesystem::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << key << '\n';
    out.write(reinterpret_cast<const char*>(state.data()),
              static_cast<std::streamsize>(state.size()));
    if (!out) {
      log::warn(tmp.string() + ": cannot write a prefix-cache state; not persisted");
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
}

std::shared_ptr<const PrefixCache::State> PrefixCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = index_.find(key);
  if (it == index_.end()) {
    if (!persist_dir_.empty()) {
      if (auto state = read_persisted(key)) {
        ++hits_;
        insert_locked(key, state);
        return state;
      }
    }
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->state;
}

void PrefixCache::insert(const std::string& key, State state) {
  if (!persist_dir_.empty()) write_persisted(key, state);
  std::lock_guard<std::mutex> lock(mu_);
  insert_locked(key, std::make_shared<const State>(std::move(state)));
}

void PrefixCache::insert_locked(const std::string& key, std::shared_ptr<const State> state) {
  if (state->size() > capacity_bytes_) return;
  if (const auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->state->size();
    lru_.erase(it->second);
    index_.erase(it);
  }
  evict_until_fits(state->size());
  bytes_ += state->size();
  lru_.push_front({key, std::move(state)});
  index_[key] = lru_.begin();
}

void PrefixCache::evict_until_fits(size_t incoming_bytes) {
  while (!lru_.empty() && bytes_ + incoming_bytes > capacity_bytes_) {
    bytes_ -= lru_.back().state->size();
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

void PrefixCache::erase_prefix(const std::string& key_prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->key.starts_with(key_prefix)) {
      bytes_ -= it->state->size();
      index_.erase(it->key);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t PrefixCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}
size_t PrefixCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}
uint64_t PrefixCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
uint64_t PrefixCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

}  // namespace a4ps::llm
