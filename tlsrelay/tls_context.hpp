// The server's TLS set-up, shared by smtp_auth (which checks the
// certificate and key before it answers 220) and tlsrelay (which uses them).
#pragma once
#include <string>

#include <openssl/types.h>

namespace tlsrelay {

struct TlsSettings {
    std::string ciphers;       // TLS_CIPHERS (TLS 1.2 and below)
    std::string ciphersuites;  // TLS_CIPHERSUITES (TLS 1.3)
    int min_version = 0;       // TLS_MIN_PROTOCOL, as OpenSSL numbers it
};

// TLS_MIN_PROTOCOL: empty or "TLSv1.2" (the default), or "TLSv1.3"; 0 for
// anything else.
int min_version_from_name(const std::string& name);

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
