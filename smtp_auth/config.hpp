// smtp_auth's settings, all from the environment, validated before the
// client sees a byte.
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tls.hpp"

namespace smtp_auth {

enum class Mechanism { login, plain, cram_md5 };

std::string_view mechanism_name(Mechanism m);

struct AuthPolicy {
    bool enabled = true;    // false for SMTPAUTH="-"
    bool required = false;  // leading "!"
    std::vector<Mechanism> mechanisms{Mechanism::login, Mechanism::plain};
};

// SMTPAUTH as the s/qmail AUTH patch reads it: "" = LOGIN PLAIN, "+cram" adds
// CRAM-MD5, "cram" = CRAM-MD5 alone, a leading "!" requires authentication,
// "-" turns AUTH off. Throws std::invalid_argument on anything else.
AuthPolicy parse_smtpauth(std::string_view value);

// A host name from UCSPI variables, which may hold anything (ucspi-tcp
// environment notes): only [A-Za-z0-9.-_:] and brackets survive; "" if
// nothing usable remains.
std::string sanitize_host(std::string_view host);

// TCPLOCALIP as RFC 5321 lets an address stand for a host name (4.1.3):
// "[192.0.2.1]", "[IPv6:2001:db8::1]"; "" if nothing usable remains.
std::string address_literal(std::string_view ip);

// GREETING: one or more lines, every one "220-..." but the last "220 ..."
// (or "220"). LF or CRLF line ends; a missing final one is added. Returns the
// reply with CRLF line ends. Throws std::invalid_argument.
std::string parse_greeting(std::string_view value);

// EHLORESP: lines "250-...", the AUTH line is added after them; a last line
// "250 ..." is accepted and becomes "250-...". Returns CRLF-terminated
// continuation lines. Throws std::invalid_argument.
std::string parse_ehloresp(std::string_view value);

// A non-negative whole number of seconds, at most `max`. Throws.
std::chrono::seconds parse_seconds(std::string_view name, std::string_view value,
                                   std::chrono::seconds max);

struct Config {
    std::string host;           // local host name, for defaults and CRAM-MD5
    std::string greeting;       // complete reply
    std::string ehlo_lines;     // continuation lines, AUTH line not included
    AuthPolicy auth;
    std::chrono::seconds fail_delay{3};
    unsigned max_failures = 3;
    std::chrono::seconds checker_timeout{30};
    std::chrono::seconds idle_timeout{1200};
    // Before the login or the handoff smtp_auth runs as root: a client may
    // spend this long there in all, and have this many commands answered.
    std::chrono::seconds login_timeout{300};
    unsigned max_login_commands = 50;
    std::string remote_ip;      // for the log
    TlsConfig tls;

    // The EHLO reply: the configured lines, then STARTTLS and AUTH if offered.
    std::string ehlo_reply(bool offer_starttls, bool offer_auth) const;
    // The same with the AUTH line naming `mechanisms` (none: no AUTH line).
    std::string ehlo_reply(bool offer_starttls, const std::vector<std::string>& mechanisms) const;
};

// Reads GREETING, EHLORESP, SMTPAUTH, AUTH_DELAY, AUTH_TRIES, AUTH_TIMEOUT,
// SMTP_TIMEOUT, LOGIN_TIMEOUT, LOGIN_COMMANDS, TCPLOCALHOST, TCPLOCALIP, TCPREMOTEIP and the TLS settings. Throws
// std::invalid_argument with a message naming the bad variable.
Config config_from_environment();

}  // namespace smtp_auth
