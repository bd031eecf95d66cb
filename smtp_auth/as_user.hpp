// The as-user mode's side of smtp_auth: where the checker's PROG (authreport)
// tells us which account the session is to run as, and whether we believe it.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

#include "account_report.hpp"

namespace smtp_auth {

// AUTH_AS_USER names the reporter (authreport) the checker runs instead of
// `true`; AUTH_MIN_UID the lowest uid a session may run as. Throws
// std::invalid_argument naming the bad variable.
struct AsUser {
    std::string reporter;  // empty: the default mode (the checker runs `true`)
    uid_t min_uid = smtpauth::default_min_uid;
};
AsUser as_user_from_environment();

// A datagram socket pair: the checker's PROG writes its report on `child`,
// we read it on `parent`, where the kernel stamps it with the writer's uid
// and gid (SCM_CREDENTIALS): a reporter that runs as a user (a checker
// like checkpw switched to it) cannot claim another account, even if the
// user has taken control of it (ptrace).
struct ReportSocket {
    int parent = -1, child = -1;
    ReportSocket();  // both -1 if it cannot be made
    ~ReportSocket();
    ReportSocket(const ReportSocket&) = delete;
    ReportSocket& operator=(const ReportSocket&) = delete;
    void close_child();
};

struct ReportOutcome {
    std::optional<smtpauth::SessionAccount> account;  // set when the report is believed
    std::string why;                        // else why not, for the log
};

// Reads the one report waiting on `socket.parent` (the reporter has exited)
// and checks it against the writer's credentials: a writer that is not root
// must report its own uid and gid, and groups the group database gives that
// account (or its gid alone).
ReportOutcome receive_report(const ReportSocket& socket);

}  // namespace smtp_auth
