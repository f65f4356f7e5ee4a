#include "t2s/core/sha256.hpp"

#include <openssl/evp.h>

#include "t2s/core/error.hpp"

namespace t2s {

struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

namespace {
// Fetched once: with OpenSSL 3, EVP_sha256() makes every EVP_DigestInit_ex fetch the algorithm again
// (a lookup under a lock), which cost more than hashing a short text.
const EVP_MD* sha256_algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return algorithm;
}
}  // namespace

Sha256::Sha256() : state_(std::make_unique<State>()) {
  if (state_->ctx == nullptr || sha256_algorithm() == nullptr || EVP_DigestInit_ex(state_->ctx, sha256_algorithm(), nullptr) != 1)
    throw Error("SHA-256: OpenSSL could not initialise a digest context");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

Sha256& Sha256::update(std::string_view bytes) {
  if (EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()) != 1)
    throw Error("SHA-256: OpenSSL digest update failed");
  return *this;
}

Digest Sha256::finish() {
  Digest out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->ctx, out.data(), &length) != 1 || length != out.size())
    throw Error("SHA-256: OpenSSL digest finalisation failed");
  return out;
}

Digest sha256(std::string_view bytes) { return Sha256().update(bytes).finish(); }

std::string to_hex(const Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(digest.size() * 2, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return hex;
}

}  // namespace t2s
