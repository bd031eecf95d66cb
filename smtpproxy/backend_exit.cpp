#include "backend_exit.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "descriptors.hpp"
#include "log.hpp"

namespace smtpproxy {

namespace {

constexpr auto reap_interval = std::chrono::seconds(1);

}  // namespace

BackendExit::BackendExit(asio::io_context& io, pid_t pid)
    : pid_(pid), pidfd_(io), next_look_(io) {
    if (const int fd = smtpauth::open_pidfd(pid); fd >= 0) pidfd_.assign(fd);
}

bool BackendExit::reap() {
    if (status_) return true;
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, WNOHANG);
    while (r == -1 && errno == EINTR);
    if (r == pid_) {
        status_ = status;
    } else if (r == -1) {
        smtpauth::log_event("backend", "failed", std::string("unable to wait for it: ") + std::strerror(errno));
        status_ = W_EXITCODE(111, 0);
    }
    if (status_ && pidfd_.is_open()) {
        Error ignored;
        pidfd_.close(ignored);
    }
    return status_.has_value();
}

asio::awaitable<void> BackendExit::reaped() {
    while (!reap()) {
        Error error;
        if (pidfd_.is_open()) {
            co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, into(error));
        } else {
            next_look_.expires_after(reap_interval);
            co_await next_look_.async_wait(into(error));
        }
        if (error == asio::error::operation_aborted) co_return;
        if (error && pidfd_.is_open()) pidfd_.close(error);  // look now and then instead
    }
}

void BackendExit::cancel() {
    Error ignored;
    if (pidfd_.is_open()) pidfd_.cancel(ignored);
    next_look_.cancel();
}

}  // namespace smtpproxy
