// Dovecot's auth service as the verifier: the SASL exchange is relayed to
// its auth-client socket, so every mechanism Dovecot has (SCRAM-SHA-256
// among them) works, against the users Dovecot knows. Nothing here needs
// root.
//
// smtp_auth connects at the first EHLO (again after STARTTLS, and at an
// AUTH when it has no connection or Dovecot has closed it) and keeps the
// connection for the session. A Dovecot that cannot be reached costs one log line: EHLO then
// offers no AUTH and an AUTH gets 454 4.7.0; mail without AUTH goes on.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "authenticator.hpp"
#include "dovecot_connection.hpp"

namespace smtp_auth {

// What AUTH tells Dovecot about the client connection, from UCSPI:
// TCPLOCALIP, TCPREMOTEIP, TCPLOCALPORT, TCPREMOTEPORT, each left out
// unless it is a valid address or port.
struct DovecotClientInfo {
    std::string local_ip, remote_ip, local_port, remote_port;
};
DovecotClientInfo dovecot_client_info_from_environment();

struct DovecotSettings {
    DovecotAddress address;
    std::chrono::milliseconds connect_timeout{5000};  // connect and handshake
    std::chrono::milliseconds reply_timeout{30000};   // each reply: AUTH_TIMEOUT
};

// CHECKPROG "dovecot" selects this mode. DOVECOT_AUTH names the service
// (default /run/dovecot/auth-client); it is an error beside another
// CHECKPROG, and so is an SMTPAUTH that chooses mechanisms ("+cram",
// "cram"): Dovecot's auth_mechanisms does that. Nothing when CHECKPROG is
// another program. Throws std::invalid_argument.
std::optional<DovecotSettings> dovecot_settings_from_environment(std::string_view checkprog,
                                                                 std::chrono::seconds reply_timeout);

class DovecotAuthenticator final : public Authenticator {
public:
    DovecotAuthenticator(DovecotSettings settings, DovecotClientInfo client)
        : settings_(std::move(settings)), client_(std::move(client)) {}

    asio::awaitable<std::vector<std::string>> offered(bool plaintext_ok) override;
    asio::awaitable<Begin> begin(std::string_view mechanism, bool plaintext_ok, bool secured) override;
    void release() override;

    // For the exchange: the connection, and dropping it after a fault.
    DovecotConnection& connection() { return *connection_; }
    void drop() { release(); }
    const DovecotSettings& settings() const { return settings_; }

private:
    // false (and `why`) when Dovecot cannot be reached.
    asio::awaitable<bool> connect(std::string& why);

    DovecotSettings settings_;
    DovecotClientInfo client_;
    std::unique_ptr<DovecotConnection> connection_;
    bool tried_ = false;  // since the start or the last release()
    unsigned next_id_ = 1;
};

}  // namespace smtp_auth
