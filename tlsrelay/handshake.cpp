#include "handshake.hpp"

#include <openssl/ssl.h>
#include <poll.h>

#include "descriptors.hpp"
#include "relay_log.hpp"
#include "tls_context.hpp"

namespace tlsrelay {

std::optional<Negotiated> handshake(SSL* ssl, std::chrono::seconds timeout, pid_t session,
                                    const std::string& remote_ip) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const int r = SSL_accept(ssl);
        if (r == 1) break;
        const int e = SSL_get_error(ssl, r);
        const bool ready = e == SSL_ERROR_WANT_READ    ? smtpauth::wait_until(0, POLLIN, deadline)
                           : e == SSL_ERROR_WANT_WRITE ? smtpauth::wait_until(1, POLLOUT, deadline)
                                                       : false;
        if (!ready) {
            const bool timed_out = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
            log_relay(session, "tls handshake failed from " + remote_ip + ": " +
                                   (timed_out ? "timeout" : openssl_error()));
            return std::nullopt;
        }
    }
    Negotiated n{SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))};
    log_relay(session, "tls " + n.protocol + " " + n.cipher + " from " + remote_ip);
    return n;
}

}  // namespace tlsrelay
