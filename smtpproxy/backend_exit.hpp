// PROG's exit, awaited through its pidfd and reaped. No SIGCHLD handler
// (nor Asio's signal_set) is involved: the pidfd becomes readable when PROG
// exits, and waitpid(2) then takes its status.
#pragma once
#include <sys/types.h>

#include <optional>

#include "io.hpp"

namespace smtpproxy {

class BackendExit {
public:
    BackendExit(asio::io_context& io, pid_t pid);

    pid_t pid() const noexcept { return pid_; }
    // Reaps PROG if it has exited; true once it has been.
    bool reap();
    // PROG's wait status, once reaped.
    const std::optional<int>& wait_status() const noexcept { return status_; }

    // Returns once PROG is reaped, or the wait is cancelled.
    asio::awaitable<void> reaped();
    void cancel();

private:
    pid_t pid_;
    // Readable once PROG has exited. Kernels before 5.3 have no pidfd:
    // then PROG is looked at once a second.
    asio::posix::stream_descriptor pidfd_;
    asio::steady_timer next_look_;
    std::optional<int> status_;
};

}  // namespace smtpproxy
