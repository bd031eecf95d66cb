// The account a session runs as, as the checker's PROG reports it to
// smtp_auth and smtp_auth hands it to authuidgid (in SMTPAUTH_ACCOUNT):
//
//   UID:GID:GROUP,GROUP,...:HOME
//
// One line (the report ends in LF, the variable does not). Numbers are
// decimal, without sign or leading zeros, below 4294967295 ((uid_t)-1 means
// "unchanged" to setuid); the group list may be empty; HOME is absolute and
// holds no control character (it may hold ':', being last). Bounded: at
// most account_max_groups groups, account_max_home octets of HOME and
// account_max_report octets in all.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtpauth {

inline constexpr const char* account_variable = "SMTPAUTH_ACCOUNT";
inline constexpr const char* report_fd_variable = "SMTPAUTH_REPORT_FD";
inline constexpr const char* min_uid_variable = "AUTH_MIN_UID";
inline constexpr std::size_t account_max_groups = 256;
inline constexpr std::size_t account_max_home = 4095;
inline constexpr std::size_t account_max_report = 8192;
inline constexpr uid_t default_min_uid = 1000;

struct SessionAccount {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    std::string home;

    bool operator==(const SessionAccount&) const = default;
};

// The line without its LF; nothing when a field is malformed or a bound is
// passed.
std::optional<std::string> format_account(const SessionAccount& account);

// Parses the line without LF (what format_account made). Nothing for
// anything else.
std::optional<SessionAccount> parse_account(std::string_view text);

// A report as it comes from the checker's PROG: exactly one line ending in LF.
std::optional<SessionAccount> parse_account_report(std::string_view report);

// Why a session may not run as `account`, or "" if it may: uid 0 never, nor
// a uid below `min_uid`.
std::string refusal(const SessionAccount& account, uid_t min_uid);

// AUTH_MIN_UID: unset or empty = default_min_uid; else a decimal number
// from 1 to 4294967294. Nothing for anything else.
std::optional<uid_t> parse_min_uid(const char* value);

// A decimal id as the format has it (also for CHECKPASSWORD_UID...).
std::optional<unsigned> parse_id(std::string_view digits);

// Ids separated by ',' ("" is the empty list), at most account_max_groups.
std::optional<std::vector<gid_t>> parse_id_list(std::string_view text);

}  // namespace smtpauth
