#include "secret.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace smtpauth {

void wipe(void* data, std::size_t size) noexcept {
    if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

void wipe(std::string& s) noexcept {
    // capacity() covers the whole buffer, heap or in-object.
    wipe(s.data(), s.capacity());
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    // Comparing digests makes the time independent of where the inputs
    // differ and of whether their lengths do.
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
    SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
    const bool same_digest = CRYPTO_memcmp(da, db, sizeof da) == 0;
    wipe(da, sizeof da);
    wipe(db, sizeof db);
    return same_digest & (a.size() == b.size());
}

}  // namespace smtpauth
