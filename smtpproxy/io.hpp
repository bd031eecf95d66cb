// Boost.Asio as smtpproxy uses it (lib/asio_coroutines.hpp), with the
// select-based reactor (BOOST_ASIO_DISABLE_EPOLL, set by the build for
// smtpproxy alone). That reactor watches a descriptor only while an
// operation waits on it, level-triggered, as poll(2) does: the relay waits
// for a pipe once per pipe-full, not for every page the backend takes.
#pragma once
#include "asio_coroutines.hpp"

namespace smtpproxy {

namespace asio = boost::asio;
using smtpauth::Clock;
using smtpauth::Error;
using smtpauth::into;

}  // namespace smtpproxy
