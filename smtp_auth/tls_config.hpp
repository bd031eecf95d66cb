// TLS settings from the environment.
#pragma once
#include <sys/types.h>

#include <string>

#include "tls_settings.hpp"

namespace smtp_auth {

struct TlsConfig {
    std::string cert_file;              // TLS_CERT: certificate chain, PEM
    std::string key_file;               // TLS_KEY: private key, PEM (default TLS_CERT)
    bool implicit = false;              // SMTPS: handshake before the greeting
    bool allow_plaintext_auth = false;  // AUTH_PLAINTEXT=1
    tlsrelay::TlsSettings settings;     // TLS_CIPHERS, TLS_CIPHERSUITES, TLS_MIN_PROTOCOL
    uid_t relay_uid = 0;                // UID
    gid_t relay_gid = 0;                // GID

    bool enabled() const { return !cert_file.empty(); }
};

// Reads TLS_CERT, TLS_KEY, SMTPS, AUTH_PLAINTEXT, TLS_CIPHERS,
// TLS_CIPHERSUITES, TLS_MIN_PROTOCOL, UID and GID. With TLS_CERT set, UID
// and GID must name an account other than root. Throws
// std::invalid_argument.
TlsConfig tls_config_from_environment();

}  // namespace smtp_auth
