// An Asio operation with a timer beside it, as in Asio's own timeout
// example: whichever ends first, the operation's result or the deadline,
// decides. Every wait of the dialogue goes through here, so none can outlast
// its bound: a client that stops reading, a Dovecot that stops answering, a
// checker that does not exit.
#pragma once
#include "asio_coroutines.hpp"

#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace smtp_auth {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Outcome {
    boost::system::error_code error;  // asio::error::timed_out when the deadline came first
    std::size_t bytes = 0;            // for reads and writes
};

// `start(token)` begins an operation on `io` (a socket, a descriptor) and
// returns its awaitable. At `deadline`, `io`'s operations are cancelled.
template <class IoObject, class Start>
asio::awaitable<Outcome> with_deadline(IoObject& io, Clock::time_point deadline, Start start) {
    // Shared with the timer's handler, which may run after this frame is
    // gone (it fired as the operation ended): it then does nothing.
    auto done = std::make_shared<bool>(false);
    auto expired = std::make_shared<bool>(false);
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    timer.async_wait([&io, done, expired](const boost::system::error_code& ec) {
        if (ec || *done) return;
        *expired = true;
        boost::system::error_code ignored;
        io.cancel(ignored);
    });
    Outcome outcome;
    auto token = asio::redirect_error(asio::use_awaitable, outcome.error);
    if constexpr (std::is_same_v<decltype(start(token)), asio::awaitable<void>>)
        co_await start(token);
    else
        outcome.bytes = co_await start(token);
    *done = true;
    timer.cancel();
    if (*expired) outcome.error = asio::error::timed_out;
    co_return outcome;
}

// Sleeps until `when`: AUTH_DELAY, without stopping the io_context.
inline asio::awaitable<void> sleep_until(Clock::time_point when) {
    asio::steady_timer timer(co_await asio::this_coro::executor, when);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

}  // namespace smtp_auth
