// The server's TLS set-up: the context, the certificate and the key.
#pragma once
#include <string>

#include <openssl/types.h>

#include "tls_settings.hpp"

namespace tlsrelay {

// A context for one connection: no session cache, no tickets, read-ahead.
// Nothing (and `error` says why) when the cipher lists are bad.
SSL_CTX* new_server_context(const TlsSettings& settings, std::string& error);

// Reads the certificate chain and the private key (PEM, no passphrase) from
// two open files, at their current offsets, into `ssl` alone, so that it can
// be dropped after the handshake. The two may be the same file. False (and
// `error` says why) when they cannot be used together.
bool use_certificate_and_key(SSL* ssl, int cert_fd, int key_fd, std::string& error);

// The text of OpenSSL's oldest queued error, and the queue cleared.
std::string openssl_error();

}  // namespace tlsrelay
