#include "tls_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "inherited_fds.hpp"
#include "tls_context.hpp"

namespace tlsrelay {

TlsClient::TlsClient(asio::io_context& io, SSL* ssl) : ssl_(ssl), in_(io, client_in), out_(io, client_out) {
    // Each record is written whole; a reply must not wait for the ACK of
    // the one before it (Nagle against delayed ACK: 40 ms each time).
    // Not a socket (a test's pipe): nothing to do.
    const int on = 1;
    ::setsockopt(client_out, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    SSL_set_rfd(ssl, client_in);
    SSL_set_wfd(ssl, client_out);
}

TlsClient::Want TlsClient::want(int result, std::string* error) {
    switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
        return Want::read;
    case SSL_ERROR_WANT_WRITE:
        return Want::write;
    default:
        if (error) *error = openssl_error();
        ERR_clear_error();
        return Want::nothing;
    }
}

asio::awaitable<void> TlsClient::ready(Want what) {
    Error ignored;  // a failed wait: the call that follows says why
    if (what == Want::read)
        co_await in_.async_wait(Wait::wait_read, into(ignored));
    else if (what == Want::write)
        co_await out_.async_wait(Wait::wait_write, into(ignored));
}

}  // namespace tlsrelay
