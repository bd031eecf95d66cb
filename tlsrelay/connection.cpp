#include "connection.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include <string>

#include "descriptors.hpp"  // open_pidfd
#include "handshake.hpp"
#include "inherited_fds.hpp"
#include "log.hpp"
#include "relay.hpp"
#include "sandbox.hpp"

namespace tlsrelay {

namespace {

asio::posix::stream_descriptor exit_of(asio::io_context& io, pid_t pid) {
    asio::posix::stream_descriptor pidfd(io);
    if (const int fd = smtpauth::open_pidfd(pid); fd >= 0) {
        pidfd.assign(fd);
        make_nonblocking(pidfd);
    }
    return pidfd;
}

asio::awaitable<void> watch_deadline(Connection& c) {
    // Not `if (!co_await ...)`: g++ 12 miscompiles a co_await in a condition.
    const bool passed = co_await c.idle.passed();
    if (!passed) co_return;
    if (c.relaying)
        smtpauth::log_event("tls relay", "timeout", "idle for SMTP_TIMEOUT");
    else
        smtpauth::log_event("tls handshake", "failed", "timeout");
    c.end();
}

asio::awaitable<void> run(Connection& c) {
    const auto negotiated = co_await handshake(c.client);
    bool sandboxed = false;
    if (negotiated) {
        SSL_certs_clear(c.client.ssl());  // the private key has done its work
        // Sandboxed before the session hears of the handshake: if that
        // fails, it hears nothing (EOF), as for a failed handshake.
        sandboxed = sandbox_relay();
        if (!sandboxed) smtpauth::log_event("tls relay", "failed", "unable to enter the sandbox");
    }
    if (c.verdict.tell(sandboxed ? &*negotiated : nullptr)) {
        c.relaying = true;
        start_relay(c);
    } else {
        c.end();
    }
}

}  // namespace

bool VerdictPipe::tell(const Negotiated* negotiated) {
    bool told = false;
    if (negotiated) {
        const std::string verdict = negotiated->protocol + " " + negotiated->cipher;
        told = ::write(verdict_fd, verdict.data(), verdict.size()) == static_cast<ssize_t>(verdict.size());
    }
    close();
    return told;
}

void VerdictPipe::close() noexcept {
    if (open_) ::close(verdict_fd);
    open_ = false;
}

Connection::Connection(SSL* ssl, pid_t session_pid, std::chrono::seconds timeout)
    : client(io, ssl), session(io, session_fd), session_exit(exit_of(io, session_pid)), idle(io, timeout) {}

bool serve_connection(SSL* ssl, pid_t session_pid, std::chrono::seconds timeout) {
    Connection c(ssl, session_pid, timeout);
    asio::co_spawn(c.io, watch_deadline(c), asio::detached);
    asio::co_spawn(c.io, run(c), asio::detached);
    c.io.run();
    return c.relaying;
}

}  // namespace tlsrelay
