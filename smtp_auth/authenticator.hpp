// What the AUTH dialogue talks to. The session speaks SMTP (334 lines,
// base64, "*", the replies, AUTH_DELAY and AUTH_TRIES); an Authenticator
// offers mechanisms and runs one exchange at a time on decoded data. Two of
// them: the local mechanisms with a checkpassword program, and Dovecot's
// auth service.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "deadline.hpp"
#include "verifier.hpp"

namespace smtp_auth {

struct AuthStep {
    enum class Kind {
        challenge,  // send `challenge` (raw octets) in a 334, wait for the answer
        accepted,   // 235; `user` is who logged in
        rejected,   // 535 after AUTH_DELAY, counts towards AUTH_TRIES
        temporary,  // 454 4.7.0
        malformed,  // 501 5.5.2
        forbidden,  // a good password, an account with no session: as rejected, logged "refused"
    };
    Kind kind;
    std::string challenge{};
    std::string user{};    // accepted: the name; otherwise the name tried, if known
    std::string detail{};  // rejected, temporary, forbidden: why, for the log
    std::string account{};  // accepted, as-user mode: SMTPAUTH_ACCOUNT for the chain
};

class AuthExchange {
public:
    virtual ~AuthExchange() = default;
    // May the client send an initial response with AUTH?
    virtual bool accepts_initial_response() const { return true; }
    // `initial` is the decoded initial response, if any.
    virtual asio::awaitable<AuthStep> start(const std::optional<std::string_view>& initial) = 0;
    // The client's decoded answer to a challenge.
    virtual asio::awaitable<AuthStep> step(std::string_view response) = 0;
    // The client answered "*".
    virtual asio::awaitable<void> cancel() { co_return; }
};

class Authenticator {
public:
    struct Begin {
        enum class Kind { started, unknown, needs_tls, unavailable };
        Kind kind;
        std::unique_ptr<AuthExchange> exchange{};
        std::string detail{};  // unavailable: why, for the log
    };

    virtual ~Authenticator() = default;
    // The mechanisms for EHLO. `plaintext_ok` is false on a connection
    // without TLS when TLS is configured and AUTH_PLAINTEXT is not set.
    virtual asio::awaitable<std::vector<std::string>> offered(bool plaintext_ok) = 0;
    // `mechanism` upper case; `secured` when TLS is active.
    virtual asio::awaitable<Begin> begin(std::string_view mechanism, bool plaintext_ok, bool secured) = 0;
    // Called before the process splits for TLS: let go of connections.
    virtual void release() {}
};

// A name that is safe in the environment, a Received line and a log: not
// empty, no control characters (a CR LF in TCPREMOTEINFO would forge header
// lines).
bool acceptable_user(std::string_view user);

// PLAIN, LOGIN and CRAM-MD5 as SMTPAUTH chooses them, checked by a
// Verifier. All of them wait for TLS when TLS is configured: even
// CRAM-MD5's secret is a plaintext password on the server.
class LocalAuthenticator final : public Authenticator {
public:
    LocalAuthenticator(const Config& config, Verifier& verifier) : config_(config), verifier_(verifier) {}
    asio::awaitable<std::vector<std::string>> offered(bool plaintext_ok) override;
    asio::awaitable<Begin> begin(std::string_view mechanism, bool plaintext_ok, bool secured) override;

private:
    const Config& config_;
    Verifier& verifier_;
};

}  // namespace smtp_auth
