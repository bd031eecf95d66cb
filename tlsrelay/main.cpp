// tlsrelay: the TLS end of one smtp_auth session, exec'd by smtp_auth on
// the relay's own account (UID/GID) after it has split from the session.
//
//   tlsrelay SESSION_PID TIMEOUT REMOTE_IP
//
// with the descriptors of inherited_fds.hpp. It reads the certificate and
// key, runs the handshake, forgets the key, enters its sandbox, tells the
// session the protocol and cipher, relays until both directions are done,
// then waits for the session (its child) and exits with its status.
#include <openssl/ssl.h>
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
#include "connection.hpp"
#include "inherited_fds.hpp"
#include "log.hpp"
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

// The certificate and key, then the connection (connection.hpp).
void load_and_serve(pid_t session, std::chrono::seconds timeout) {
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
        ::close(verdict_fd);  // EOF: the session closes the connection
        return;
    }
    if (serve_connection(ssl, session, timeout)) smtpauth::drain_before_close(client_in, client_out);
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
        load_and_serve(session, std::chrono::seconds(timeout));
    }
    ::close(session_fd);
    int status = 0;
    while (::waitpid(session, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(smtpauth::exit_code_of(status));
}
