// The TLS settings smtp_auth reads from its environment and passes on to
// tlsrelay. Header-only: smtp_auth needs them without linking libssl.
#pragma once
#include <string>

#include <openssl/tls1.h>

namespace tlsrelay {

struct TlsSettings {
    std::string ciphers;       // TLS_CIPHERS (TLS 1.2 and below)
    std::string ciphersuites;  // TLS_CIPHERSUITES (TLS 1.3)
    int min_version = 0;       // TLS_MIN_PROTOCOL, as OpenSSL numbers it
};

// TLS_MIN_PROTOCOL: empty or "TLSv1.2" (the default), or "TLSv1.3"; 0 for
// anything else.
inline int min_version_from_name(const std::string& name) {
    if (name.empty() || name == "TLSv1.2") return TLS1_2_VERSION;
    if (name == "TLSv1.3") return TLS1_3_VERSION;
    return 0;
}

}  // namespace tlsrelay
