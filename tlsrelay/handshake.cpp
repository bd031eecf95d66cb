#include "handshake.hpp"

#include <openssl/ssl.h>
#include <poll.h>

#include "descriptors.hpp"
#include "log.hpp"
#include "tls_context.hpp"

namespace tlsrelay {

std::optional<Negotiated> handshake(SSL* ssl, std::chrono::seconds timeout) {
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
            smtpauth::log_event("tls handshake", "failed", timed_out ? "timeout" : openssl_error());
            return std::nullopt;
        }
    }
    Negotiated n{SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))};
    smtpauth::log_event("tls handshake", "done", n.protocol + " " + n.cipher);
    return n;
}

}  // namespace tlsrelay
