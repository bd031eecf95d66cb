// A session's timeout: a deadline that every byte moved pushes back, and a
// timer beside the session's waits that fires once it has passed (the
// watchdog of Asio's cpp20 timeout example: moving costs no timer call).
// Header-only, as Asio is here (asio_coroutines.hpp).
#pragma once
#include "asio_coroutines.hpp"

namespace smtpauth {

class IdleDeadline {
public:
    IdleDeadline(asio::io_context& io, Clock::duration timeout)
        : timeout_(timeout), deadline_(Clock::now() + timeout), timer_(io) {}

    // Something happened: the whole timeout from now.
    void moved() { deadline_ = Clock::now() + timeout_; }

    // True once the deadline passes; false if stop() came first.
    asio::awaitable<bool> passed() {
        while (!stopped_ && deadline_ > Clock::now()) {
            timer_.expires_at(deadline_);
            Error ignored;
            co_await timer_.async_wait(into(ignored));
        }
        co_return !stopped_;
    }

    void stop() {
        stopped_ = true;
        timer_.cancel();
    }

private:
    Clock::duration timeout_;
    Clock::time_point deadline_;
    asio::steady_timer timer_;
    bool stopped_ = false;
};

}  // namespace smtpauth
