// TLS for smtp_auth: STARTTLS (RFC 3207) and implicit TLS (RFC 8314).
//
// The process that holds the TLS state must outlive smtp_auth's exec of the
// chain. So, with the certificate and key files open and before the
// handshake, smtp_auth splits in two, joined by a socketpair:
//   - the parent becomes the TLS relay: it switches to the relay's account
//     (UID/GID, as envuidgid sets them) and execs tlsrelay, which runs the
//     handshake, forgets the private key, enters its sandbox, tells the
//     child the protocol and cipher, and pumps bytes between the encrypted
//     socket and the socketpair until both sides are done;
//   - the child carries on as smtp_auth with the socketpair on fds 0 and 1,
//     and execs the chain as before; the chain never sees ciphertext, and
//     no plaintext crosses a network socket.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "tls_config.hpp"
#include "tls_verdict.hpp"

namespace smtp_auth {

// What the dialogue needs from TLS; the dialogue's unit tests stand in for it.
class TlsStarter {
public:
    virtual ~TlsStarter() = default;
    // Finds tlsrelay and opens the certificate and key files: false
    // (logged) when it cannot, and the client gets 454 instead of 220.
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
    void close_files();

    const TlsConfig& config_;
    std::chrono::seconds timeout_;
    std::string remote_ip_;
    std::string relay_program_;
    // Opened as root, read by the relay on its own account.
    int cert_fd_ = -1, key_fd_ = -1;
};

}  // namespace smtp_auth
