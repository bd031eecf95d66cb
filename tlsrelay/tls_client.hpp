// The client's connection under TLS: fds 0 and 1 carry the ciphertext, one
// SSL object runs over both. An SSL call that cannot go on says which way
// it waits (SSL_ERROR_WANT_READ or _WRITE), and the caller waits for just
// that; anything else (close_notify, a reset, a TLS error) ends the client.
#pragma once
#include <string>

#include <openssl/types.h>

#include "io.hpp"

namespace tlsrelay {

class TlsClient {
public:
    // Puts `ssl` on fds 0 and 1, both non-blocking from now on.
    TlsClient(asio::io_context& io, SSL* ssl);

    SSL* ssl() const noexcept { return ssl_; }

    enum class Want { read, write, nothing };
    // After an SSL call returned `result` (<= 0): what it waits for, or
    // nothing when the connection is done. Call it at once, before another
    // SSL call: it reads what this one left. Clears OpenSSL's error queue,
    // whose first entry goes into `error` if asked for.
    Want want(int result, std::string* error = nullptr);

    // Until the socket is ready for `what`.
    asio::awaitable<void> ready(Want what);

private:
    SSL* ssl_;
    BorrowedDescriptor in_;
    BorrowedDescriptor out_;
};

}  // namespace tlsrelay
