// One SMTP session between the client and the backend: the replay of what
// smtp_auth already answered, then a byte-for-byte relay both ways.
#pragma once
#include <chrono>
#include <optional>

#include "backend.hpp"
#include "handoff.hpp"

namespace smtpproxy {

// Runs the session and returns what smtpproxy exits with: PROG's exit code
// (128 + signal if a signal killed it), 111 if PROG exited 0 although the
// replay failed, 111 on a timeout (PROG is then killed).
//
// client_in and client_out are two descriptors (they may refer to one
// socket); with `handoff`, PROG's greeting and its replies to the answered
// lines are hidden from the client. Takes ownership of all four descriptors
// and reaps PROG.
int run_session(int client_in, int client_out, const Backend& backend,
                const std::optional<smtpauth::Handoff>& handoff,
                std::chrono::steady_clock::duration idle_timeout);

}  // namespace smtpproxy
