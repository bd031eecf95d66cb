// One of the session's four descriptors (the client's two, PROG's pipes),
// as Asio waits on it.
//
// Non-blocking while the session has it: splice(2) and the relay need
// that. The mode belongs to the open file, not to the descriptor: it would
// survive an exec and reach whoever shares the file (fds 0 and 1 are the
// connection tcpserver handed over), so close() puts back the mode it found.
#pragma once
#include "io.hpp"

namespace smtpproxy {

class Stream : public asio::posix::stream_descriptor {
public:
    // Takes `fd`, if it is one (-1: none).
    Stream(asio::io_context& io, int fd);
    ~Stream() { close(); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    int fd() { return is_open() ? native_handle() : -1; }
    // Blocking again if it was, then closed; cancels what waits on it.
    void close() noexcept;
    // Closed as it is: for a descriptor whose open file another one of the
    // session's may still be using (the client's output, when it is not a
    // socket, ends this way: its input may be the same terminal or file).
    void close_as_is() noexcept;

private:
    bool was_blocking_ = false;
};

}  // namespace smtpproxy
