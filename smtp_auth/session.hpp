// The SMTP dialogue smtp_auth holds before it hands the client on: greeting,
// EHLO, the AUTH exchange, and the few commands it answers itself.
#pragma once
#include <optional>
#include <string>

#include "client_io.hpp"
#include "config.hpp"
#include "handoff.hpp"
#include "verifier.hpp"

namespace smtpauth {

struct SessionEnd {
    enum class Kind {
        quit,     // the client said QUIT and got 221
        closed,   // EOF, timeout, too many failures: exit with `exit_code`
        handoff,  // exec the chain
    };
    Kind kind;
    int exit_code{0};
    std::optional<std::string> user{};  // set after a successful AUTH
    Handoff handoff{};
};

class Session {
public:
    static constexpr std::size_t max_command = 512;   // RFC 5321 4.5.3.1.4
    static constexpr std::size_t max_auth_line = 12288;  // RFC 4954 section 4

    Session(const Config& config, ClientChannel& client, Verifier& verifier)
        : config_(config), client_(client), verifier_(verifier),
          reader_(client, max_auth_line, config.idle_timeout) {}

    SessionEnd run();

private:
    enum class AuthResult { success, failure, other, end };

    bool reply(std::string_view text);
    SessionEnd closed(int exit_code) { return {SessionEnd::Kind::closed, exit_code}; }
    SessionEnd ended_by(LineReader::Status status);
    void remember_greeting_line(std::string_view raw);
    AuthResult authenticate(std::string_view argument);
    AuthResult refuse(std::string_view mechanism, const std::string& user, std::string_view why);
    void log_attempt(std::string_view mechanism, const std::string& user, std::string_view outcome);

    const Config& config_;
    ClientChannel& client_;
    Verifier& verifier_;
    LineReader reader_;
    Handoff handoff_;
    unsigned failures_ = 0;
    std::optional<std::string> user_;
    LineReader::Status end_status_ = LineReader::Status::line;
};

}  // namespace smtpauth
