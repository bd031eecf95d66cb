// The relay's log lines: smtp_auth's name and the session's pid, so that
// every line of one connection after the handshake carries the same pid
// whichever process wrote it.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>

#include "log.hpp"

namespace tlsrelay {

inline void log_relay(pid_t session, std::string_view what) {
    smtpauth::log_line("smtp_auth", "pid " + std::to_string(session) + " " + std::string(what));
}

}  // namespace tlsrelay
