// authreport: the checker's PROG when the session runs as the user.
//
// smtp_auth runs `CHECKPROG authreport`: once the checker has said yes, this
// writes the account the session is to run as, one line in the format of
// account_report.hpp, to the descriptor named by SMTPAUTH_REPORT_FD, and
// exits 0. The account is the one it runs as (a checker that switches, like
// checkpw, has made it so); when it runs as root (checkpassword_nosu never
// switches) it is the one the checker named in CHECKPASSWORD_UID,
// CHECKPASSWORD_GID and CHECKPASSWORD_GROUPS, else root itself, which
// smtp_auth refuses. HOME comes from the environment in both cases.
// Exit 111: nothing reported. See authreport(8).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "account_report.hpp"
#include "log.hpp"

using namespace smtpauth;

namespace {

constexpr int exit_temporary = 111;

int fail(std::string_view why) {
    log_event("report", "failed", why);
    return exit_temporary;
}

std::string_view env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// Who this process is: what a switching checker set up.
bool describe_self(SessionAccount& a) {
    a.uid = ::getuid();
    a.gid = ::getgid();
    const int n = ::getgroups(0, nullptr);
    if (n < 0) return false;
    a.groups.resize(static_cast<std::size_t>(n));
    const int got = ::getgroups(n, a.groups.data());
    if (got < 0) return false;
    a.groups.resize(static_cast<std::size_t>(got));
    return true;
}

}  // namespace

int main() {
    // The checker's PROG: the checker's process, forked for one attempt.
    set_log_program("authreport", LogPid::caller);
    const auto fd = parse_id(env(report_fd_variable));
    if (!fd || *fd < 3) return fail(std::string(report_fd_variable) + " is not a descriptor number: not run by smtp_auth?");

    SessionAccount account;
    if (!describe_self(account)) return fail(std::string("getgroups failed: ") + std::strerror(errno));
    if ((::getuid() == 0 || ::geteuid() == 0) && !env("CHECKPASSWORD_UID").empty()) {
        // A checker that runs as root and never switches names the account.
        const auto uid = parse_id(env("CHECKPASSWORD_UID"));
        const auto gid = parse_id(env("CHECKPASSWORD_GID"));
        const auto groups = parse_id_list(env("CHECKPASSWORD_GROUPS"));
        if (!uid || !gid || !groups) return fail("malformed CHECKPASSWORD_UID, CHECKPASSWORD_GID or CHECKPASSWORD_GROUPS");
        account.uid = *uid;
        account.gid = *gid;
        account.groups = *groups;
    } else if (::getuid() == 0 || ::geteuid() == 0) {
        log_event("report", "uid 0", "running as root and the checker named no account in CHECKPASSWORD_UID");
        account.uid = 0;
    }
    account.home = env("HOME");
    const auto line = format_account(account);
    if (!line) return fail("HOME is not an absolute path without control characters, or too many groups");

    // One write: on smtp_auth's datagram socket, one message.
    const std::string report = *line + '\n';
    ssize_t n;
    while ((n = ::write(static_cast<int>(*fd), report.data(), report.size())) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(report.size())) return fail(std::string("unable to report: ") + std::strerror(errno));
    return 0;
}
