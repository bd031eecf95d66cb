// SMTPPROXY_TIMEOUT: how long a session may stay silent, in seconds.
#pragma once
#include <chrono>
#include <optional>

namespace smtpproxy {

inline constexpr const char* idle_timeout_variable = "SMTPPROXY_TIMEOUT";
inline constexpr std::chrono::seconds default_idle_timeout{1200};  // qmail-smtpd's
inline constexpr std::chrono::seconds max_idle_timeout{86400};

// nullptr (unset) gives the default. Anything but decimal digits naming 1 to
// max_idle_timeout seconds gives nothing.
std::optional<std::chrono::seconds> parse_idle_timeout(const char* value);

}  // namespace smtpproxy
