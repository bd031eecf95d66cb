// Who decides whether credentials are good. Today: a checkpassword-compatible
// program; the dialogue only sees the Verifier interface.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "as_user.hpp"
#include "deadline.hpp"
#include "sasl.hpp"

namespace smtp_auth {

struct Verdict {
    // forbidden: the password was good, but the account may not have a
    // session here (uid 0, below AUTH_MIN_UID): the client is answered
    // as for a wrong password, the log says which.
    enum class Kind { accepted, rejected, temporary, forbidden };
    Kind kind;
    std::string detail;  // for the log: "checker exit 111", "timeout"...
    std::string account{};  // as-user mode: SMTPAUTH_ACCOUNT for the chain
};

class Verifier {
public:
    virtual ~Verifier() = default;
    virtual asio::awaitable<Verdict> verify(const Credentials& credentials) = 0;
};

// The qmail AUTH patch's fd-3 format: user NUL secret NUL challenge NUL.
// Empty when fd 3 cannot carry the credentials: over checkpassword's
// 512-octet limit, or a NUL inside a field. (A password "digest NUL
// <challenge>" would ask the checker for a CRAM-MD5 check against a
// challenge of the client's choosing: a digest sniffed elsewhere would log
// in.)
smtpauth::Secret checkpassword_payload(const Credentials& credentials);

// Runs `program true` with the credentials on fd 3, /dev/null on fds 0 and 1
// (so a chatty checker cannot talk to the client) and our stderr. Exit 0
// accepts, 111 or a crash is temporary, anything else rejects; a checker still
// running after `timeout` is killed with its process group and counts as
// temporary. Its exit is awaited on the dialogue's io_context.
// With `as_user.reporter` set it runs `program REPORTER` instead, with a
// socket for the report on the descriptor SMTPAUTH_REPORT_FD names, and an
// exit 0 counts only with a report that is believed and allowed.
class CheckpasswordVerifier final : public Verifier {
public:
    CheckpasswordVerifier(std::string program, std::chrono::seconds timeout, AsUser as_user = {})
        : program_(std::move(program)), timeout_(timeout), as_user_(std::move(as_user)) {}
    asio::awaitable<Verdict> verify(const Credentials& credentials) override;

private:
    std::string program_;
    std::chrono::seconds timeout_;
    AsUser as_user_;
};

}  // namespace smtp_auth
