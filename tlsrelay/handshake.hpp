// The server's half of the TLS handshake on the client connection.
#pragma once
#include <optional>
#include <string>

#include "io.hpp"
#include "tls_client.hpp"

namespace tlsrelay {

struct Negotiated {
    std::string protocol;  // "TLSv1.3"
    std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

// Runs SSL_accept until it is done, or has failed (logged). Its time is
// bounded by the connection's deadline, which stops the whole relay.
asio::awaitable<std::optional<Negotiated>> handshake(TlsClient& client);

}  // namespace tlsrelay
