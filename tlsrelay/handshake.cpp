#include "handshake.hpp"

#include <openssl/ssl.h>

#include "log.hpp"

namespace tlsrelay {

asio::awaitable<std::optional<Negotiated>> handshake(TlsClient& client) {
    SSL* ssl = client.ssl();
    for (;;) {
        const int r = SSL_accept(ssl);
        if (r == 1) break;
        std::string error;
        const auto want = client.want(r, &error);
        if (want == TlsClient::Want::nothing) {
            smtpauth::log_event("tls handshake", "failed", error);
            co_return std::nullopt;
        }
        co_await client.ready(want);
    }
    Negotiated n{SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))};
    smtpauth::log_event("tls handshake", "done", n.protocol + " " + n.cipher);
    co_return n;
}

}  // namespace tlsrelay
