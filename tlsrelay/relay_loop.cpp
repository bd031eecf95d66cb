#include "relay_loop.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "log.hpp"

namespace tlsrelay {

void RelayLoop::run() {
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

// Decrypt what the client sends and pass it to the session.
bool RelayLoop::client_to_session() {
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
bool RelayLoop::session_to_client() {
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
bool RelayLoop::want(int result) {
    switch (SSL_get_error(ssl_, result)) {
        case SSL_ERROR_WANT_READ: net_events_ |= POLLIN; return true;
        case SSL_ERROR_WANT_WRITE: net_events_ |= POLLOUT; return true;
        default: ERR_clear_error(); return false;
    }
}

bool RelayLoop::wait() {
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
            smtpauth::log_event("tls relay", "timeout", "idle for SMTP_TIMEOUT");
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

}  // namespace tlsrelay
