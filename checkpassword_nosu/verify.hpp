// Checking a password, or a CRAM-MD5 digest, against a stored secret.
#pragma once
#include <string_view>

#include "secret.hpp"

namespace checkpassword_nosu {

enum class SchemeKind { plain, crypt, unknown };

// `scheme` is upper case. PLAIN, CLEAR and CLEARTEXT are plaintext; CRYPT and
// the Dovecot *-CRYPT names are crypt(3) strings; anything else is unknown.
SchemeKind scheme_kind(std::string_view scheme) noexcept;

// '!' or '*' first marks a locked account (passwd(1) -l, useradd's default).
bool is_locked(std::string_view secret) noexcept;

bool verify_plain(std::string_view password, std::string_view stored) noexcept;

enum class CryptResult { match, mismatch, unusable };

// Hashes `password` with the setting in `hash` (libxcrypt: yescrypt, SHA-512,
// bcrypt, MD5, DES, ...) and compares in constant time. `unusable` means
// libxcrypt rejected the stored string.
CryptResult verify_crypt(std::string_view password, std::string_view hash);

// Runs one yescrypt hash for nothing, so that an unknown or refused user takes
// about as long as a wrong password.
void spend_dummy_crypt(std::string_view password);

// RFC 2195: lower-case hex of HMAC-MD5(key = secret, data = challenge).
// False if the HMAC cannot be computed.
bool cram_md5_hex(std::string_view secret, std::string_view challenge, smtpauth::Secret& hex);

enum class CramResult { match, mismatch, error };

// `digest` must be 32 hex digits, either case.
CramResult verify_cram_md5(std::string_view digest, std::string_view secret,
                           std::string_view challenge);

}  // namespace checkpassword_nosu
