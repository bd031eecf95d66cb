// The relay: bytes both ways at once (PROG may answer pending commands while
// more of them are still being written to it), until both ways are done and
// PROG has been reaped. Each way is a coroutine that moves what it can (see
// Pump), then waits for what stops it: its source to become readable, its
// destination writable, or the end of a pause (see Pacer).
#pragma once
#include <string>

#include "io.hpp"
#include "session_state.hpp"

namespace smtpproxy {

// Starts the relay on s.io: `first_output` goes to the client before
// anything PROG writes from now on, `pending` to PROG before anything the
// client sends. Ends the idle watch when done.
void start_relay(Session& s, std::string first_output, std::string pending);

}  // namespace smtpproxy
