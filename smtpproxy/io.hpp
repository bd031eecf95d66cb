// Boost.Asio as smtpproxy uses it: one thread, coroutines, and the
// select-based reactor (BOOST_ASIO_DISABLE_EPOLL, set by the build for
// smtpproxy alone). That reactor watches a descriptor only while an
// operation waits on it, level-triggered, as poll(2) does: the relay waits
// for a pipe once per pipe-full, not for every page the backend takes.
#pragma once
// Boost 1.74 finds C++20 coroutines in g++ only; clang (the fuzz build)
// has them as well.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
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

namespace smtpproxy {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Error = boost::system::error_code;

// For co_await: an operation's error lands in `error` instead of throwing.
inline auto into(Error& error) { return asio::redirect_error(asio::use_awaitable, error); }

}  // namespace smtpproxy
