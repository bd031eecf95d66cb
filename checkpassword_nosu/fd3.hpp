// The checkpassword interface: what arrives on descriptor 3.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "secret.hpp"

namespace checkpassword_nosu {

// DJB's checkpassword stops at 512 bytes; a caller sending more is refused.
inline constexpr std::size_t credentials_limit = 512;

enum class ReadResult { ok, too_long, read_error };

// Reads `fd` to end of file into `out`. One byte past credentials_limit is
// too_long (reading stops there); an I/O error is read_error.
ReadResult read_credentials(int fd, smtpauth::Secret& out);

// "login\0password\0third\0" where third is a timestamp or, for CRAM-MD5,
// the challenge, and password is then the client's hex digest. Views into
// the buffer that was parsed.
struct Credentials {
    std::string_view login;
    std::string_view password;
    std::string_view third;
};

// At least two NULs are required (login and password each end in one), as in
// DJB's checkpassword. The third field runs to the third NUL, or to the end
// of the data when there is none; anything after the third NUL is ignored.
std::optional<Credentials> parse_credentials(std::string_view data);
std::optional<Credentials> parse_credentials(std::string&&) = delete;  // views would dangle

// The qmail AUTH patch convention: a challenge "<...@...>" in the third field
// means the second field is a CRAM-MD5 digest (RFC 2195).
bool looks_like_cram_challenge(std::string_view third) noexcept;

}  // namespace checkpassword_nosu
