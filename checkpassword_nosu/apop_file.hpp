// A mail password file (~/.apop, ~/.apop-ext): read only if it is safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "secret.hpp"

namespace checkpassword_nosu {

// The password is on the first line; the file may hold a little more (a
// comment, a CRLF), never more than this.
inline constexpr std::size_t apop_file_limit = 1024;

enum class ApopFile { ok, refused, error };

// The first line of `text` without its newline and one trailing CR.
std::string_view first_line(std::string_view text) noexcept;

// Reads the password from `path`. refused (with `why`, for the log; never the
// password) when the file is missing, a symlink, not a regular file, not
// owned by `uid`, readable or writable by group or others, empty or larger
// than apop_file_limit. error when it cannot be read for another reason.
// The file is opened with O_NOFOLLOW and O_NONBLOCK, and checked with
// fstat on the descriptor, so that what was checked is what is read.
ApopFile read_apop_file(const std::string& path, std::uint32_t uid, smtpauth::Secret& password,
                        std::string& why);

}  // namespace checkpassword_nosu
