#include "tls.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "close_connection.hpp"
#include "descriptors.hpp"
#include "log.hpp"
#include "sandbox.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

using Clock = std::chrono::steady_clock;

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "connection closed";
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

unsigned long parse_id(const char* name) {
    const char* v = std::getenv(name);
    unsigned long n = 0;
    const std::string_view s = v ? v : "";
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || n == 0 || n > 0x7fffffff)
        throw std::invalid_argument(std::string(name) +
                                    " must name the unprivileged account for the TLS relay (use envuidgid)");
    return n;
}

bool drop_privileges(uid_t uid, gid_t gid) {
    // Started unprivileged (tcpserver -u, with Dovecot as the verifier):
    // nothing to drop, as long as we already are that account.
    if (::geteuid() != 0)
        return ::getuid() == uid && ::geteuid() == uid && ::getgid() == gid && ::getegid() == gid;
    return ::setgroups(0, nullptr) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0 && ::getuid() != 0 &&
           ::geteuid() != 0;
}

// The TLS relay: ciphertext on the client socket, plaintext on the
// socketpair. Each direction is a buffer filled from one side and drained
// into the other; the loop polls only when neither direction can move.
class TlsRelay {
public:
    TlsRelay(SSL* ssl, int plain, std::chrono::seconds idle) : ssl_(ssl), plain_(plain), idle_(idle) {}

    void run() {
        for (;;) {
            net_events_ = plain_events_ = 0;
            // Both directions get their turn, whatever the first one did.
            const bool from_client = client_to_session();
            const bool from_session = session_to_client();
            const bool moved = from_client || from_session;
            if (to_client_closed_ && to_session_closed_) return;
            if (!moved && !wait()) return;
        }
    }

private:
    static constexpr std::size_t max_record = 16384;

    struct Buffer {
        std::vector<char> data = std::vector<char>(65536);
        std::size_t begin = 0, end = 0;
        bool empty() const { return begin == end; }
    };

    // Decrypt what the client sends and pass it to the session.
    bool client_to_session() {
        bool moved = false;
        if (!client_eof_ && down_.empty()) {
            // Every record already at hand goes into the buffer: one write
            // to the session then carries several (a record is 16 KiB at most).
            down_.begin = down_.end = 0;
            do {
                const int n = SSL_read(ssl_, down_.data.data() + down_.end,
                                       static_cast<int>(down_.data.size() - down_.end));
                if (n <= 0) {
                    if (!want(n)) client_eof_ = moved = true;  // close_notify, reset or a TLS error
                    break;
                }
                down_.end += static_cast<std::size_t>(n);
                moved = true;
            } while (down_.data.size() - down_.end >= max_record && SSL_has_pending(ssl_));
        }
        if (!down_.empty()) {
            const ssize_t n = ::write(plain_, down_.data.data() + down_.begin, down_.end - down_.begin);
            if (n > 0) {
                down_.begin += static_cast<std::size_t>(n);
                moved = true;
            } else if (errno == EAGAIN) {
                plain_events_ |= POLLOUT;
            } else if (errno != EINTR) {
                down_.begin = down_.end;  // the session is gone: nobody to tell
                client_eof_ = moved = true;
            }
        }
        if (client_eof_ && down_.empty() && !to_session_closed_) {
            ::shutdown(plain_, SHUT_WR);
            to_session_closed_ = moved = true;
        }
        return moved;
    }

    // Encrypt what the session answers and send it to the client.
    bool session_to_client() {
        bool moved = false;
        if (!session_eof_ && up_.empty()) {
            up_.begin = up_.end = 0;
            const ssize_t n = ::read(plain_, up_.data.data(), up_.data.size());
            if (n > 0) {
                up_.end = static_cast<std::size_t>(n);
                moved = true;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                session_eof_ = moved = true;
            } else if (errno == EAGAIN) {
                plain_events_ |= POLLIN;
            }
        }
        if (!up_.empty()) {
            const int n = SSL_write(ssl_, up_.data.data() + up_.begin, static_cast<int>(up_.end - up_.begin));
            if (n > 0) {
                up_.begin += static_cast<std::size_t>(n);
                moved = true;
            } else if (!want(n)) {
                up_.begin = up_.end;  // the client is gone
                session_eof_ = client_eof_ = moved = true;
            }
        }
        if (session_eof_ && up_.empty() && !to_client_closed_) {
            SSL_shutdown(ssl_);  // close_notify (RFC 8314 3.4)
            ::shutdown(1, SHUT_WR);
            to_client_closed_ = moved = true;
        }
        return moved;
    }

    // For a failed SSL call: true when it only has to wait for the socket.
    bool want(int result) {
        switch (SSL_get_error(ssl_, result)) {
            case SSL_ERROR_WANT_READ: net_events_ |= POLLIN; return true;
            case SSL_ERROR_WANT_WRITE: net_events_ |= POLLOUT; return true;
            default: ERR_clear_error(); return false;
        }
    }

    bool wait() {
        // poll(2) reports POLLHUP and POLLERR even for a descriptor asked for
        // no event, at once and every time: such a descriptor is watched
        // until it has reported them once, then left out, or the loop spins
        // (a client reset while the session is not reading, say).
        const auto in = static_cast<short>(net_events_ & POLLIN);
        const auto out = static_cast<short>(net_events_ & POLLOUT);
        pollfd p[3] = {{in || !client_hung_up_ ? 0 : -1, in, 0},
                       {out ? 1 : -1, out, 0},
                       {plain_events_ || !session_hung_up_ ? plain_ : -1, plain_events_, 0}};
        for (;;) {
            const int n = ::poll(p, 3, static_cast<int>(std::chrono::milliseconds(idle_).count()));
            if (n == 0) {
                log_event("tls relay", "timeout", "idle for SMTP_TIMEOUT");
                return false;
            }
            if (n > 0) break;
            if (errno != EINTR) return false;
        }
        if (!in && (p[0].revents & (POLLHUP | POLLERR))) {
            client_hung_up_ = true;
            if (p[0].revents & POLLERR) {
                // Reset: nothing more comes from the client, and what it
                // sent is not passed on to a session it can no longer hear.
                client_eof_ = true;
                down_.begin = down_.end;
            }
        }
        if (!plain_events_ && (p[2].revents & (POLLHUP | POLLERR))) session_hung_up_ = true;
        // Everything the session said has been read and it has closed its
        // end completely (smtpproxy exited): what the client still sends
        // has nowhere to go, so do not wait for the client to hang up.
        if (session_eof_ && up_.empty() && (session_hung_up_ || (p[2].revents & POLLHUP))) client_eof_ = true;
        return true;
    }

    SSL* ssl_;
    int plain_;
    std::chrono::seconds idle_;
    Buffer down_, up_;
    short net_events_ = 0, plain_events_ = 0;
    bool client_eof_ = false, session_eof_ = false;
    bool to_session_closed_ = false, to_client_closed_ = false;
    bool client_hung_up_ = false, session_hung_up_ = false;  // seen once, no longer polled
};

// The session's end of the verdict pipe: "protocol cipher", then EOF. The
// relay is unprivileged and parses what the client sends: what it says goes
// into the environment and the log only if it looks like the names OpenSSL
// gives.
std::optional<TlsInfo> read_verdict(int fd, Clock::time_point deadline) {
    char text[256];
    std::size_t got = 0;
    for (;;) {
        if (!wait_until(fd, POLLIN, deadline)) return std::nullopt;
        const ssize_t n = ::read(fd, text + got, sizeof text - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
        if (got == sizeof text) return std::nullopt;
    }
    const std::string_view told(text, got);
    const auto space = told.find(' ');
    if (space == std::string_view::npos) return std::nullopt;  // nothing: the handshake failed
    const auto name = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '-' || c == '_';
        });
    };
    const auto protocol = told.substr(0, space), cipher = told.substr(space + 1);
    if (!name(protocol) || !name(cipher)) return std::nullopt;
    return TlsInfo{std::string(protocol), std::string(cipher)};
}

int exit_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

}  // namespace

TlsConfig tls_config_from_environment() {
    TlsConfig c;
    const auto env = [](const char* name) -> std::string {
        const char* v = std::getenv(name);
        return v ? v : "";
    };
    c.cert_file = env("TLS_CERT");
    c.key_file = env("TLS_KEY");
    if (c.key_file.empty()) c.key_file = c.cert_file;
    c.implicit = !env("SMTPS").empty();
    c.allow_plaintext_auth = !env("AUTH_PLAINTEXT").empty();
    c.ciphers = env("TLS_CIPHERS");
    c.ciphersuites = env("TLS_CIPHERSUITES");
    const auto min = env("TLS_MIN_PROTOCOL");
    if (min.empty() || min == "TLSv1.2") c.min_version = TLS1_2_VERSION;
    else if (min == "TLSv1.3") c.min_version = TLS1_3_VERSION;
    else throw std::invalid_argument("TLS_MIN_PROTOCOL must be TLSv1.2 or TLSv1.3");
    if (!c.enabled()) {
        if (c.implicit) throw std::invalid_argument("SMTPS needs TLS_CERT");
        return c;
    }
    c.relay_uid = static_cast<uid_t>(parse_id("UID"));
    c.relay_gid = static_cast<gid_t>(parse_id("GID"));
    return c;
}

TlsServer::~TlsServer() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
}

bool TlsServer::prepare() {
    if (ssl_) return true;
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (!ctx_) return false;
    SSL_CTX_set_min_proto_version(ctx_, config_.min_version);
    // One process per connection: no session cache, no tickets to key.
    // (TLS 1.3 sends tickets even with SSL_OP_NO_TICKET, unless told their
    // number is nought: two for nothing, and the greeting queued behind them.)
    SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx_, 0);
    // Read the socket in large blocks, not a record header at a time.
    SSL_CTX_set_read_ahead(ctx_, 1);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((!config_.ciphers.empty() && SSL_CTX_set_cipher_list(ctx_, config_.ciphers.c_str()) != 1) ||
        (!config_.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx_, config_.ciphersuites.c_str()) != 1)) {
        log_event("tls", "unavailable", "bad TLS_CIPHERS or TLS_CIPHERSUITES: " + openssl_error());
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        return false;
    }
    // The key goes into this connection's SSL object only, so that the
    // relay can drop it after the handshake.
    ssl_ = SSL_new(ctx_);
    if (!ssl_ || SSL_use_certificate_chain_file(ssl_, config_.cert_file.c_str()) != 1 ||
        SSL_use_PrivateKey_file(ssl_, config_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_check_private_key(ssl_) != 1) {
        log_event("tls", "unavailable", "cannot use " + config_.cert_file + " / " + config_.key_file + ": " + openssl_error());
        SSL_free(ssl_);
        ssl_ = nullptr;
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        return false;
    }
    return true;
}

// The relay's half of the handshake; unprivileged by now.
std::optional<TlsInfo> TlsServer::handshake() {
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
        const int r = SSL_accept(ssl_);
        if (r == 1) break;
        const int e = SSL_get_error(ssl_, r);
        const bool ready = e == SSL_ERROR_WANT_READ    ? wait_until(0, POLLIN, deadline)
                           : e == SSL_ERROR_WANT_WRITE ? wait_until(1, POLLOUT, deadline)
                                                       : false;
        if (!ready) {
            const bool timed_out = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
            log_event("tls handshake", "failed", timed_out ? "timeout" : openssl_error());
            return std::nullopt;
        }
    }
    TlsInfo info{SSL_get_version(ssl_), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_))};
    log_event("tls handshake", "done", info.protocol + " " + info.cipher);
    return info;
}

std::optional<TlsInfo> TlsServer::start() {
    if (!prepare()) return std::nullopt;
    set_nonblocking(0);
    set_nonblocking(1);
    // Each record is written whole; a reply must not wait for the ACK of
    // the one before it (Nagle against delayed ACK: 40 ms each time).
    // Not a socket (a test's pipe): nothing to do.
    const int on = 1;
    ::setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    SSL_set_rfd(ssl_, 0);
    SSL_set_wfd(ssl_, 1);

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
        // The session: plaintext on fds 0 and 1 from now on. Our copy of the
        // TLS state (and the key) is freed without a word to the client.
        ::close(pair[0]);
        ::close(verdict[1]);
        SSL_free(ssl_);
        ssl_ = nullptr;
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        ::dup2(pair[1], 0);
        ::dup2(pair[1], 1);
        ::close(pair[1]);
        // The relay's handshake is bounded by the same timeout; the margin
        // only guards against a relay that is stuck for good.
        auto info = read_verdict(verdict[0], Clock::now() + timeout_ + std::chrono::seconds(5));
        ::close(verdict[0]);
        return info;
    }
    // The relay: unprivileged from here on, until both directions are done.
    ::close(pair[1]);
    ::close(verdict[0]);
    if (!drop_privileges(config_.relay_uid, config_.relay_gid)) {
        log_event("tls relay", "failed", "unable to drop privileges");
        ::kill(session, SIGKILL);
    } else if (const auto info = handshake()) {
        SSL_certs_clear(ssl_);  // the private key has done its work
        set_nonblocking(pair[0]);
        // Sandboxed before the session hears of the handshake: if that
        // fails, it hears nothing (EOF), as for a failed handshake.
        if (!sandbox_relay()) {
            log_event("tls relay", "failed", "unable to enter the sandbox");
        } else {
            const std::string told = info->protocol + " " + info->cipher;
            const bool sent = ::write(verdict[1], told.data(), told.size()) == static_cast<ssize_t>(told.size());
            ::close(verdict[1]);
            verdict[1] = -1;
            if (sent) {
                TlsRelay(ssl_, pair[0], timeout_).run();
                drain_before_close(0, 1);
            }
        }
    }
    if (verdict[1] >= 0) ::close(verdict[1]);  // a failed handshake: EOF
    ::close(pair[0]);
    int status = 0;
    while (::waitpid(session, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(exit_status(status));
}

}  // namespace smtp_auth
