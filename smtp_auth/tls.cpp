#include "tls.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log.hpp"
#include "tls_relay_launch.hpp"
#include "wait_status.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {


}  // namespace

TlsServer::~TlsServer() { close_files(); }

void TlsServer::close_files() {
    for (int* fd : {&cert_fd_, &key_fd_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

bool TlsServer::prepare() {
    if (cert_fd_ >= 0) return true;
    relay_program_ = relay_program_path();
    if (relay_program_.empty() || ::access(relay_program_.c_str(), X_OK) != 0) {
        log_event("tls", "unavailable", "cannot run the relay " + (relay_program_.empty() ? "tlsrelay" : relay_program_));
        return false;
    }
    // Opened here, as root if need be, and read by the relay alone, on its
    // own account: OpenSSL's TLS set-up (a few milliseconds of CPU, half a
    // MiB of memory) happens once per session, in the relay. A file that
    // opens but holds no usable certificate and key fails the handshake,
    // logged by the relay.
    cert_fd_ = ::open(config_.cert_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (cert_fd_ >= 0) key_fd_ = ::open(config_.key_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (key_fd_ < 0) {
        log_event("tls", "unavailable",
                  "cannot open " + (cert_fd_ < 0 ? config_.cert_file : config_.key_file) + ": " + std::strerror(errno));
        close_files();
        return false;
    }
    return true;
}

std::optional<TlsInfo> TlsServer::start() {
    if (!prepare()) return std::nullopt;
    // Split before the first byte of the handshake: the client's TLS
    // records are parsed by the unprivileged relay only. The relay tells
    // the session how the handshake went on a pipe of its own: the
    // protocol and cipher, or nothing (EOF) when it failed.
    int pair[2], verdict[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        log_event("tls", "failed", "socketpair failed");
        return std::nullopt;
    }
    if (::pipe2(verdict, O_CLOEXEC) != 0) {
        log_event("tls", "failed", "pipe failed");
        ::close(pair[0]);
        ::close(pair[1]);
        return std::nullopt;
    }
    const pid_t session = ::fork();
    if (session < 0) {
        log_event("tls", "failed", "fork failed");
        for (const int fd : {pair[0], pair[1], verdict[0], verdict[1]}) ::close(fd);
        return std::nullopt;
    }
    if (session == 0) {
        // The session: plaintext on fds 0 and 1 from now on.
        ::close(pair[0]);
        ::close(verdict[1]);
        close_files();
        ::dup2(pair[1], 0);
        ::dup2(pair[1], 1);
        ::close(pair[1]);
        // The relay's handshake is bounded by the same timeout; the margin
        // only guards against a relay that is stuck for good.
        auto info = read_verdict(verdict[0], std::chrono::steady_clock::now() + timeout_ + std::chrono::seconds(5));
        ::close(verdict[0]);
        return info;
    }
    // The relay: tlsrelay on its own account from here on.
    ::close(pair[1]);
    ::close(verdict[0]);
    std::string error;
    exec_relay(relay_program_, config_, session, timeout_, remote_ip_, pair[0], verdict[1], cert_fd_, key_fd_, error);
    log_event("tls relay", "failed", error);
    // The session hears EOF, as for a failed handshake, and ends.
    ::close_range(3, ~0U, 0);
    int status = 0;
    while (::waitpid(session, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(smtpauth::exit_code_of(status));
}

}  // namespace smtp_auth
