// TLS for smtp_auth: STARTTLS (RFC 3207) and implicit TLS (RFC 8314).
//
// The process that holds the TLS state must outlive smtp_auth's exec of the
// chain. So, with the key loaded and before the handshake, smtp_auth splits
// in two, joined by a socketpair:
//   - the parent becomes the TLS relay: it drops root (to UID/GID, as
//     envuidgid sets them), runs the handshake, forgets the private key,
//     tells the child the protocol and cipher, and pumps bytes between the
//     encrypted socket and the socketpair until both sides are done;
//   - the child carries on as smtp_auth with the socketpair on fds 0 and 1,
//     and execs the chain as before; the chain never sees ciphertext, and
//     no plaintext crosses a network socket.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include <openssl/types.h>

namespace smtp_auth {

struct TlsInfo {
    std::string protocol;  // "TLSv1.3"
    std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

struct TlsConfig {
    std::string cert_file;            // TLS_CERT: certificate chain, PEM
    std::string key_file;             // TLS_KEY: private key, PEM (default TLS_CERT)
    bool implicit = false;            // SMTPS: handshake before the greeting
    bool allow_plaintext_auth = false;  // AUTH_PLAINTEXT=1
    std::string ciphers;              // TLS_CIPHERS (TLS 1.2 and below)
    std::string ciphersuites;         // TLS_CIPHERSUITES (TLS 1.3)
    int min_version = 0;              // TLS_MIN_PROTOCOL, default TLS 1.2
    uid_t relay_uid = 0;              // UID
    gid_t relay_gid = 0;              // GID

    bool enabled() const { return !cert_file.empty(); }
};

// Reads TLS_CERT, TLS_KEY, SMTPS, AUTH_PLAINTEXT, TLS_CIPHERS,
// TLS_CIPHERSUITES, TLS_MIN_PROTOCOL, UID and GID. With TLS_CERT set, UID
// and GID must name an account other than root. Throws
// std::invalid_argument.
TlsConfig tls_config_from_environment();

// What the dialogue needs from TLS; the dialogue's unit tests stand in for it.
class TlsStarter {
public:
    virtual ~TlsStarter() = default;
    // Loads the certificate and key: false (logged) when they cannot be used,
    // and the client gets 454 instead of 220.
    virtual bool prepare() = 0;
    // Splits as described above and runs the handshake on the client
    // connection (fds 0 and 1) in the relay. Returns in the session process
    // only, with fds 0 and 1 now the plaintext socketpair; the relay process
    // never returns. Returns nothing when the handshake failed (logged; the
    // connection is then dead).
    virtual std::optional<TlsInfo> start() = 0;
};

class TlsServer final : public TlsStarter {
public:
    TlsServer(const TlsConfig& config, std::chrono::seconds timeout, std::string remote_ip)
        : config_(config), timeout_(timeout), remote_ip_(std::move(remote_ip)) {}
    ~TlsServer() override;
    TlsServer(const TlsServer&) = delete;
    TlsServer& operator=(const TlsServer&) = delete;

    bool prepare() override;
    std::optional<TlsInfo> start() override;

private:
    std::optional<TlsInfo> handshake();

    const TlsConfig& config_;
    std::chrono::seconds timeout_;
    std::string remote_ip_;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
};

}  // namespace smtp_auth
