#include "secret.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace smtpauth {

void wipe(void* data, std::size_t size) noexcept {
    if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

void wipe(std::string& s) noexcept {
    // capacity() covers the whole buffer, heap or in-object.
    wipe(s.data(), s.capacity());
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    // Both inputs, zero-padded to the longer one's length, go through
    // CRYPTO_memcmp block by block: the time depends on the lengths only,
    // never on the contents, and a length mismatch does not end it early.
    // (No digest here: hashing would initialise all of libcrypto in every
    // program that links this file, smtpproxy included.)
    unsigned char x[64], y[64];
    const auto load = [](std::string_view s, std::size_t at, std::size_t n, unsigned char* out) {
        const std::size_t have = at < s.size() ? std::min(n, s.size() - at) : 0;
        if (have != 0) std::memcpy(out, s.data() + at, have);
        std::memset(out + have, 0, n - have);
    };
    int differ = a.size() != b.size();
    const std::size_t longest = std::max(a.size(), b.size());
    for (std::size_t at = 0; at < longest; at += sizeof x) {
        const std::size_t n = std::min(sizeof x, longest - at);
        load(a, at, n, x);
        load(b, at, n, y);
        differ |= CRYPTO_memcmp(x, y, n);
    }
    wipe(x, sizeof x);
    wipe(y, sizeof y);
    return differ == 0;
}

}  // namespace smtpauth
