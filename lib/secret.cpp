#include "secret.hpp"

#include <openssl/crypto.h>

namespace smtpauth {

void wipe(void* data, std::size_t size) noexcept {
    if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

void wipe(std::string& s) noexcept {
    // capacity() covers the whole buffer, heap or in-object.
    wipe(s.data(), s.capacity());
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace smtpauth
