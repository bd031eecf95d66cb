// What smtp_auth tells smtpproxy when it execs the chain.
//
// smtp_auth has already greeted the client and answered its EHLO/HELO lines;
// it may also have read bytes the client pipelined that nobody has answered
// yet. Both travel in one environment variable, so they survive any chain of
// programs (setuidgid, envdir, softlimit...) that passes the environment on:
//
//   SMTPAUTH_HANDOFF=1:<base64 of the answered lines>:<base64 of the unread bytes>
//
// The answered lines are the client's raw HELO/EHLO lines, each ending in LF
// (as the client sent it, CRLF or bare LF). Both parts are bounded, so the
// variable stays far below the kernel's limit for one environment string.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtpauth {

inline constexpr const char* handoff_variable = "SMTPAUTH_HANDOFF";
inline constexpr std::size_t handoff_max_lines = 16;        // answered lines kept
inline constexpr std::size_t handoff_max_line = 512;        // octets, with CRLF
inline constexpr std::size_t handoff_max_pending = 65536;   // unread octets

struct Handoff {
    std::vector<std::string> answered;  // raw lines, each ending in '\n'
    std::string pending;                // bytes read but not answered

    bool operator==(const Handoff&) const = default;
};

// Throws std::length_error when the handoff exceeds the bounds above.
std::string encode_handoff(const Handoff& handoff);

// Returns nothing for a malformed or out-of-bounds value.
std::optional<Handoff> decode_handoff(std::string_view value);

}  // namespace smtpauth
