// Boost.Asio as tlsrelay uses it (lib/asio_coroutines.hpp), with the
// select-based reactor (BOOST_ASIO_DISABLE_EPOLL, set by the build): it
// watches a descriptor only while something waits on it, level-triggered,
// as poll(2) does, so that the relay wakes once per buffer-full, not for
// every packet. Its system calls are the sandbox's (sandbox.cpp).
#pragma once
#include "asio_coroutines.hpp"

namespace tlsrelay {

namespace asio = boost::asio;
using smtpauth::Clock;
using smtpauth::Error;
using smtpauth::into;
using Wait = asio::posix::descriptor_base::wait_type;

// Non-blocking, as Asio wants it, and told so now: Asio would otherwise
// set the mode (ioctl FIONBIO) at a descriptor's first wait, which the
// sandbox does not allow.
inline void make_nonblocking(asio::posix::stream_descriptor& d) {
    Error ignored;  // a descriptor that refuses fails its first read instead
    d.non_blocking(true, ignored);
}

// A descriptor Asio waits on but does not own: the relay's descriptors are
// inherited by number and closed by main, after the drain.
class BorrowedDescriptor : public asio::posix::stream_descriptor {
public:
    BorrowedDescriptor(asio::io_context& io, int fd) : asio::posix::stream_descriptor(io, fd) {
        make_nonblocking(*this);
    }
    ~BorrowedDescriptor() {
        if (is_open()) release();
    }
    BorrowedDescriptor(const BorrowedDescriptor&) = delete;
    BorrowedDescriptor& operator=(const BorrowedDescriptor&) = delete;
};

}  // namespace tlsrelay
