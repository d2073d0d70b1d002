#include "llm/prefix_cache.h"

namespace a4ps::llm {

std::shared_ptr<const PrefixCache::State> PrefixCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->state;
}

void PrefixCache::insert(const std::string& key, State state) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state.size() > capacity_bytes_) return;
  if (const auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->state->size();
    lru_.erase(it->second);
    index_.erase(it);
  }
  evict_until_fits(state.size());
  bytes_ += state.size();
  lru_.push_front({key, std::make_shared<const State>(std::move(state))});
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
