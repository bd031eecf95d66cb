// The SASL mechanisms smtp_auth speaks (RFC 4616 PLAIN, LOGIN, RFC 2195
// CRAM-MD5), apart from SMTP: they see decoded client data and answer with
// a challenge or with credentials. Base64, "*" and the 334 lines are the
// dialogue's business.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"
#include "secret.hpp"

namespace smtp_auth {

// What a checker needs. For PLAIN and LOGIN `secret` is the password and
// `challenge` is empty; for CRAM-MD5 `secret` is the hex digest and
// `challenge` the text the client signed.
struct Credentials {
    std::string user;
    smtpauth::Secret secret{256};
    std::string challenge;
};

struct SaslStep {
    enum class Kind {
        challenge,        // send `challenge` and wait for the client's answer
        done,             // credentials are complete
        malformed,        // 501 5.5.2
        bad_credentials,  // refused without asking the checker
    };
    Kind kind;
    std::string challenge{};
};

class SaslMechanism {
public:
    virtual ~SaslMechanism() = default;
    // May the client send an initial response with AUTH?
    virtual bool accepts_initial_response() const { return true; }
    // Begins the exchange; `initial` is the decoded initial response, if any.
    virtual SaslStep start(const std::optional<std::string_view>& initial) = 0;
    // Continues it with the client's decoded answer.
    virtual SaslStep step(std::string_view response) = 0;
    Credentials& credentials() { return credentials_; }

protected:
    Credentials credentials_;
};

// A mechanism where the server speaks first, whatever backend runs it:
// CRAM-MD5 (RFC 2195 2) and DIGEST-MD5 (RFC 2831 2.1). RFC 4954 4: an
// initial response with one is a syntax error, 501. `mechanism` upper case.
bool server_first(std::string_view mechanism);

// `host` names this server in the CRAM-MD5 challenge.
std::unique_ptr<SaslMechanism> make_mechanism(Mechanism m, std::string_view host);

// The CRAM-MD5 challenge, "<pid.microseconds.random@host>": the qmail AUTH
// patch's "<pid.time@host>" with microseconds, so that two challenges never
// repeat, and 64 random bits, so that none can be foreseen (RFC 2195 2).
std::string cram_challenge(std::string_view host);

}  // namespace smtp_auth
