// A pipe the relay writes into: how full it is, for the pacing (see Pacer),
// and its growth.
#pragma once
#include <cstddef>

namespace smtpproxy {

class PipeGauge {
public:
    // How large a pipe to PROG grows once the client sends faster than PROG
    // reads: fewer, larger moves. Not more, and not before: the pipes of an
    // account count against a limit (sysctl fs.pipe-user-pages-soft, 64 MiB
    // by default), past which the kernel gives its new pipes two pages.
    static constexpr int grown_size = 256 * 1024;

    // `fd` need not be a pipe: then there is nothing to gauge or grow.
    explicit PipeGauge(int fd);

    bool is_pipe() const noexcept { return is_pipe_; }
    // Bytes waiting in the pipe.
    std::size_t bytes_in() const noexcept;
    // Once: true if the pipe has become larger.
    bool grow() noexcept;

private:
    int fd_;
    bool is_pipe_ = false;
    bool grown_ = false;
};

}  // namespace smtpproxy
