// One line per event on stderr, for multilog: never a password.
#pragma once
#include <string>
#include <string_view>

namespace smtpauth {

// Printable ASCII stays, except '\\' and '"'; everything else becomes \xHH.
// Bounded: at most `limit` input octets are shown, then "...".
std::string escape_for_log(std::string_view text, std::size_t limit = 128);

// Writes "program: message\n" to fd 2 with a single write(2).
void log_line(std::string_view program, std::string_view message) noexcept;

// For a step of the chain that cannot go on while the client waits for a
// reply: logs `why`, answers 421 on fd 1, returns `exit_code`.
int refuse_session(std::string_view program, std::string_view why, int exit_code = 111) noexcept;

}  // namespace smtpauth
