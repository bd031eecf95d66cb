// tlsrelay: the TLS end of one smtp_auth session, exec'd by smtp_auth on
// the relay's own account (UID/GID) after it has split from the session.
//
//   tlsrelay SESSION_PID TIMEOUT REMOTE_IP
//
// with the descriptors of inherited_fds.hpp. It reads the certificate and
// key, runs the handshake, forgets the key, enters its sandbox, tells the
// session the protocol and cipher, relays until both directions are done,
// then waits for the session (its child) and exits with its status.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>

#include "close_connection.hpp"
#include "descriptors.hpp"
#include "handshake.hpp"
#include "inherited_fds.hpp"
#include "log.hpp"
#include "relay_loop.hpp"
#include "sandbox.hpp"
#include "tls_context.hpp"
#include "wait_status.hpp"

namespace {

using namespace tlsrelay;

constexpr int exit_usage = 100;

// A decimal from 1 to `max`, or 0.
long positive(std::string_view s, long max) {
    long n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc{} && end == s.data() + s.size() && n > 0 && n <= max ? n : 0;
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

bool inherited(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// Handshake, sandbox, verdict, relay. Returns when the connection is done
// or has failed (logged); the verdict pipe is closed either way.
void serve(std::chrono::seconds timeout) {
    const TlsSettings settings{env("TLS_CIPHERS"), env("TLS_CIPHERSUITES"),
                               min_version_from_name(env("TLS_MIN_PROTOCOL"))};
    std::string error;
    SSL_CTX* ctx = new_server_context(settings, error);
    SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
    const bool loaded = ssl && use_certificate_and_key(ssl, cert_fd, key_fd, error);
    ::close(cert_fd);
    ::close(key_fd);
    if (!loaded) {
        smtpauth::log_event("tls relay", "failed", "cannot use the certificate and key: " + error);
    } else {
        smtpauth::set_nonblocking(client_in);
        smtpauth::set_nonblocking(client_out);
        // Each record is written whole; a reply must not wait for the ACK of
        // the one before it (Nagle against delayed ACK: 40 ms each time).
        // Not a socket (a test's pipe): nothing to do.
        const int on = 1;
        ::setsockopt(client_out, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        SSL_set_rfd(ssl, client_in);
        SSL_set_wfd(ssl, client_out);
        if (const auto negotiated = handshake(ssl, timeout)) {
            SSL_certs_clear(ssl);  // the private key has done its work
            smtpauth::set_nonblocking(session_fd);
            // Sandboxed before the session hears of the handshake: if that
            // fails, it hears nothing (EOF), as for a failed handshake.
            if (!sandbox_relay()) {
                smtpauth::log_event("tls relay", "failed", "unable to enter the sandbox");
            } else {
                const std::string told = negotiated->protocol + " " + negotiated->cipher;
                const bool sent = ::write(verdict_fd, told.data(), told.size()) == static_cast<ssize_t>(told.size());
                ::close(verdict_fd);
                if (sent) {
                    RelayLoop(ssl, session_fd, timeout).run();
                    smtpauth::drain_before_close(client_in, client_out);
                }
                return;
            }
        }
    }
    ::close(verdict_fd);  // EOF: the session closes the connection
}

}  // namespace

int main(int argc, char** argv) {
    const pid_t session = argc == 4 ? static_cast<pid_t>(positive(argv[1], 0x7fffffff)) : 0;
    const long timeout = argc == 4 ? positive(argv[2], 86400) : 0;
    if (session == 0 || timeout == 0 || !inherited(session_fd) || !inherited(verdict_fd) || !inherited(cert_fd) ||
        !inherited(key_fd)) {
        smtpauth::log_event("usage", "error",
                            "tlsrelay session-pid timeout remote-ip, with descriptors 0 to 6 open: "
                            "smtp_auth runs it, not a user");
        return exit_usage;
    }
    // The relay is the process tcpserver started (smtp_auth forked the
    // session and exec'd this): its pid is the connection's. Its
    // environment holds only TLS_*; the client's address comes as an
    // argument, for the log.
    smtpauth::set_log_program("tlsrelay", smtpauth::LogPid::own);
    ::setenv("TCPREMOTEIP", argv[3], 1);
    ::signal(SIGPIPE, SIG_IGN);  // a vanished peer is an error return, not a death
    // smtp_auth switched to the relay's account before the exec; never
    // parse a client's records as root.
    if (::getuid() == 0 || ::geteuid() == 0) {
        smtpauth::log_event("tls relay", "refused", "running as root");
        ::close(verdict_fd);
    } else {
        serve(std::chrono::seconds(timeout));
    }
    ::close(session_fd);
    int status = 0;
    while (::waitpid(session, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(smtpauth::exit_code_of(status));
}
