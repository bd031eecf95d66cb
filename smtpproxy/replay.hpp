// The replay: PROG's greeting hidden, then the client's HELO/EHLO lines
// that smtp_auth answered sent to PROG one at a time, each reply hidden.
// The client has already had smtp_auth's replies: only a 2xx may be hidden;
// any other reply ends the session and goes to the client.
#pragma once
#include <string>

#include "handoff.hpp"
#include "io.hpp"
#include "session_state.hpp"

namespace smtpproxy {

struct Replayed {
    bool ok = false;
    // ok: bytes PROG sent after the last hidden reply (should be none);
    // else: what the client is told before the session ends (nothing when
    // time ran out).
    std::string for_client;
};

asio::awaitable<Replayed> replay(Session& s, const smtpauth::Handoff& handoff);

}  // namespace smtpproxy
