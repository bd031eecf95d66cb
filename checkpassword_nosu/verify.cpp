#include "verify.hpp"

#include <crypt.h>
#include <memory>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string>

namespace checkpassword_nosu {

namespace {

// yescrypt with libxcrypt's default cost, the hash Debian's passwd(1) writes.
constexpr const char* dummy_hash =
    "$y$j9T$n8x1DadVGe2BdBTjWHSgE0$ikT6ltqBm8mzCk8FnVysw3lGeYi/BseucKPM0vnJws6";

// crypt_rn's work area (about 32 KB) lives on the heap and is wiped.
struct CryptArea {
    CryptArea() : data(std::make_unique<crypt_data>()) {}
    ~CryptArea() { smtpauth::wipe(data.get(), sizeof *data); }
    CryptArea(const CryptArea&) = delete;
    CryptArea& operator=(const CryptArea&) = delete;
    std::unique_ptr<crypt_data> data;
};

bool equal_ascii_ci(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
        if (x != b[i]) return false;
    }
    return true;
}

}  // namespace

SchemeKind scheme_kind(std::string_view scheme) noexcept {
    for (const char* name : {"PLAIN", "CLEAR", "CLEARTEXT"})
        if (equal_ascii_ci(scheme, name)) return SchemeKind::plain;
    for (const char* name :
         {"CRYPT", "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT"})
        if (equal_ascii_ci(scheme, name)) return SchemeKind::crypt;
    return SchemeKind::unknown;
}

bool is_locked(std::string_view secret) noexcept {
    return !secret.empty() && (secret.front() == '!' || secret.front() == '*');
}

bool verify_plain(std::string_view password, std::string_view stored) noexcept {
    return smtpauth::equal_constant_time(password, stored);
}

CryptResult verify_crypt(std::string_view password, std::string_view hash) {
    if (hash.empty() || hash.size() >= CRYPT_OUTPUT_SIZE) return CryptResult::unusable;
    smtpauth::Secret phrase(password.size() + 1);
    phrase.str().assign(password);
    const std::string setting(hash);
    CryptArea area;
    const char* out = ::crypt_rn(phrase.str().c_str(), setting.c_str(), area.data.get(),
                                 static_cast<int>(sizeof *area.data));
    if (out == nullptr || out[0] == '*') return CryptResult::unusable;
    return smtpauth::equal_constant_time(out, hash) ? CryptResult::match : CryptResult::mismatch;
}

void spend_dummy_crypt(std::string_view password) {
    (void)verify_crypt(password, dummy_hash);
}

bool cram_md5_hex(std::string_view secret, std::string_view challenge, smtpauth::Secret& hex) {
    static constexpr char digits[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    const bool ok =
        ::HMAC(EVP_md5(), secret.data(), static_cast<int>(secret.size()),
               reinterpret_cast<const unsigned char*>(challenge.data()), challenge.size(), mac,
               &mac_size) != nullptr &&
        mac_size == 16;
    hex.clear();
    if (ok) {
        hex.str().reserve(2 * mac_size);
        for (unsigned int i = 0; i < mac_size; ++i) {
            hex.str().push_back(digits[mac[i] >> 4]);
            hex.str().push_back(digits[mac[i] & 0xf]);
        }
    }
    smtpauth::wipe(mac, sizeof mac);
    return ok;
}

CramResult verify_cram_md5(std::string_view digest, std::string_view secret,
                           std::string_view challenge) {
    smtpauth::Secret expected(32);
    if (!cram_md5_hex(secret, challenge, expected)) return CramResult::error;
    if (digest.size() != 32) return CramResult::mismatch;
    smtpauth::Secret client(32);
    for (const char c : digest) {
        if (c >= 'A' && c <= 'F')
            client.str().push_back(static_cast<char>(c - 'A' + 'a'));
        else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
            client.str().push_back(c);
        else
            return CramResult::mismatch;
    }
    return smtpauth::equal_constant_time(client.view(), expected.view()) ? CramResult::match
                                                                         : CramResult::mismatch;
}

}  // namespace checkpassword_nosu
