// Boost.Asio as the programs use it: one thread, C++20 coroutines, and an
// operation's error in a variable instead of an exception. Header-only:
// smtpproxy and tlsrelay build Asio with its select-based reactor
// (BOOST_ASIO_DISABLE_EPOLL), smtp_auth with the default one, and nothing
// of Asio may be compiled into the library they share.
#pragma once
// Boost 1.74 finds C++20 coroutines in g++ only; clang 14 (the fuzz build)
// has them as well.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif
// GCC 12 takes the coroutine frame's own operator new and delete, which
// Asio pairs, for a mismatch: a false positive at the end of each coroutine.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include <utility>  // before Asio: Boost 1.74's headers need it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace smtpauth {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Error = boost::system::error_code;

// For co_await: an operation's error lands in `error` instead of throwing.
inline auto into(Error& error) { return asio::redirect_error(asio::use_awaitable, error); }

}  // namespace smtpauth
