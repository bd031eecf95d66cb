// What the parts of one session share: the event loop, the four streams,
// PROG's exit and the idle deadline.
#pragma once
#include <string_view>

#include "backend.hpp"
#include "backend_exit.hpp"
#include "idle_deadline.hpp"
#include "io.hpp"
#include "stream.hpp"

namespace smtpproxy {

// What the log says should the idle deadline pass: the event and its detail.
struct TimeoutMessage {
    std::string_view event;
    std::string_view detail;
};
inline constexpr TimeoutMessage session_idle{"session", "idle for SMTPPROXY_TIMEOUT"};

struct Session {
    Session(int in, int out, const Backend& b, Clock::duration idle_timeout)
        : client_in(io, in), client_out(io, out), backend_in(io, b.input),
          backend_out(io, b.output), backend(io, b.pid), idle(io, idle_timeout) {}

    void close_streams() noexcept {
        client_in.close();
        client_out.close();
        backend_in.close();
        backend_out.close();
    }

    asio::io_context io{1};  // one thread
    Stream client_in;    // bytes from the client
    Stream client_out;   // bytes to the client
    Stream backend_in;   // PROG's stdin
    Stream backend_out;  // PROG's stdout
    BackendExit backend;
    smtpauth::IdleDeadline idle;
    // What the log says should the idle deadline pass now.
    TimeoutMessage timeout_message = session_idle;

    bool replay_failed = false;
    bool timed_out = false;
};

}  // namespace smtpproxy
