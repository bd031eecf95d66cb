// The server's half of the TLS handshake on the client connection.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include <openssl/types.h>

namespace tlsrelay {

struct Negotiated {
    std::string protocol;  // "TLSv1.3"
    std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

// Runs SSL_accept on non-blocking fds 0 and 1 until it is done or `timeout`
// has passed. Logs the outcome either way.
std::optional<Negotiated> handshake(SSL* ssl, std::chrono::seconds timeout);

}  // namespace tlsrelay
