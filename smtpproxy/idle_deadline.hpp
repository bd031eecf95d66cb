// The session's timeout: a deadline that every byte moved pushes back, and
// a timer beside the session's waits that fires once it has passed (the
// watchdog of Asio's cpp20 timeout example: moving costs no timer call).
#pragma once
#include "io.hpp"

namespace smtpproxy {

class IdleDeadline {
public:
    IdleDeadline(asio::io_context& io, Clock::duration timeout)
        : timeout_(timeout), deadline_(Clock::now() + timeout), timer_(io) {}

    // Something happened: the whole timeout from now.
    void moved() { deadline_ = Clock::now() + timeout_; }
    // True once the deadline passes; false if stop() came first.
    asio::awaitable<bool> passed();
    void stop();

private:
    Clock::duration timeout_;
    Clock::time_point deadline_;
    asio::steady_timer timer_;
    bool stopped_ = false;
};

}  // namespace smtpproxy
