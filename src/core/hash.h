// core/hash: small non-cryptographic hashes for cache keys and seeds, and SHA-256 (OpenSSL)
// where a hash must resist tampering (the forge's tool files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace a4ps {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;

// FNV-1a over bytes, continuing from `hash`.
inline uint64_t fnv1a(std::string_view bytes, uint64_t hash = kFnv1aOffset) {
  for (const char c : bytes) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return hash;
}

// 16 lower-case hex digits.
std::string hex64(uint64_t value);

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

// SHA-256 fed piece by piece (OpenSSL): update() as the bytes come, hex() once at the end.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  std::string hex();  // 64 lower-case hex digits; call once

 private:
  evp_md_ctx_st* ctx_;
};

// SHA-256 of a file's contents, read in 1 MiB pieces. Throws kNotFound if it cannot be opened,
// kDataLoss on a read error.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace a4ps
