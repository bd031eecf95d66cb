// The SMTP dialogue smtp_auth holds before it hands the client on: greeting,
// EHLO, the AUTH exchange, and the few commands it answers itself.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "authenticator.hpp"
#include "client_io.hpp"
#include "config.hpp"
#include "handoff.hpp"
#include "verifier.hpp"

namespace smtp_auth {

struct SessionEnd {
    enum class Kind {
        quit,     // the client said QUIT and got 221
        closed,   // EOF, timeout, too many failures: exit with `exit_code`
        handoff,  // exec the chain
    };
    Kind kind;
    int exit_code{0};
    std::optional<std::string> user{};  // set after a successful AUTH
    std::string account{};              // as-user mode: SMTPAUTH_ACCOUNT after a login
    std::optional<TlsInfo> tls{};       // set when the session is encrypted
    smtpauth::Handoff handoff{};
};

class Session {
public:
    static constexpr std::size_t max_command = 512;   // RFC 5321 4.5.3.1.4
    static constexpr std::size_t max_auth_line = 12288;  // RFC 4954 section 4

    // `tls` is null when no certificate is configured.
    Session(const Config& config, ClientChannel& client, Authenticator& authenticator, TlsStarter* tls = nullptr)
        : config_(config), client_(client), authenticator_(authenticator), tls_(tls),
          reader_(client, max_auth_line, config.idle_timeout) {}
    // The mechanisms SMTPAUTH chooses, checked by `verifier`.
    Session(const Config& config, ClientChannel& client, Verifier& verifier, TlsStarter* tls = nullptr)
        : config_(config), client_(client), owned_(std::make_unique<LocalAuthenticator>(config, verifier)),
          authenticator_(*owned_), tls_(tls), reader_(client, max_auth_line, config.idle_timeout) {}

    // The dialogue as a coroutine on `io`, run to its end. The checker, the
    // Dovecot client and the client's descriptors share `io`.
    SessionEnd run(asio::io_context& io);
    asio::awaitable<SessionEnd> dialogue();

private:
    enum class AuthResult { success, failure, other, end };

    asio::awaitable<bool> reply(std::string_view text);
    bool past_login_deadline() const { return std::chrono::steady_clock::now() >= login_deadline_; }
    bool plaintext_ok() const;
    asio::awaitable<bool> auth_allowed();
    bool offer_starttls() const { return tls_ != nullptr && !tls_info_; }
    bool start_tls();  // false: the connection is finished
    SessionEnd handoff(std::optional<std::string> user);
    SessionEnd closed(int exit_code) { return {SessionEnd::Kind::closed, exit_code}; }
    asio::awaitable<SessionEnd> ended_by(LineReader::Status status);
    asio::awaitable<SessionEnd> too_many_commands();
    void remember_greeting_line(std::string_view raw);
    asio::awaitable<AuthResult> authenticate(std::string_view argument);
    // A failed login: logged as `outcome` ("rejected", "refused"), answered
    // 535 AUTH_DELAY after `attempted`, counted towards AUTH_TRIES.
    asio::awaitable<AuthResult> refuse(std::string_view mechanism, const std::string& user, std::string_view outcome,
                                       std::string_view why, std::chrono::steady_clock::time_point attempted);
    void log_attempt(std::string_view mechanism, const std::string& user, std::string_view outcome,
                     std::string_view detail = {});

    const Config& config_;
    ClientChannel& client_;
    std::unique_ptr<Authenticator> owned_;  // when made from a Verifier
    Authenticator& authenticator_;
    TlsStarter* tls_;
    std::optional<TlsInfo> tls_info_;
    LineReader reader_;
    smtpauth::Handoff handoff_;
    unsigned failures_ = 0;
    std::optional<std::string> user_;
    std::string account_;
    bool greeted_ = false;  // EHLO or HELO since the start or STARTTLS
    unsigned commands_ = 0;  // answered here, before the login or handoff
    std::chrono::steady_clock::time_point login_deadline_;
    LineReader::Status end_status_ = LineReader::Status::line;
};

}  // namespace smtp_auth
