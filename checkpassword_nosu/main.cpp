// checkpassword_nosu prog [args...]
//
// Reads "login\0password\0timestamp\0" from descriptor 3, checks it against
// CHECKPASSWORD_FILE (Dovecot passwd-file), the address's .apop file
// (CHECKPASSWORD_APOP=1) or the system accounts, and on
// success sets USER, HOME and SHELL (and CHECKPASSWORD_UID, _GID, _GROUPS
// when the account has ids) and runs prog. It never changes uid, gid,
// groups or directory: the caller does that, if anyone. Exit 1: refused;
// 2: misuse; 111: temporary failure. The superuser is always refused.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unistd.h>
#include <utility>

#include "apop.hpp"
#include "fd3.hpp"
#include "judge.hpp"
#include "log.hpp"
#include "secret.hpp"

using namespace checkpassword_nosu;

namespace {

using smtpauth::log_event;

// A refusal is the client's doing, anything else ours: as smtp_auth says it.
void log_verdict(std::string_view login, const Verdict& verdict) {
    smtpauth::log_user_event("check", login, verdict.exit_code == 1 ? "rejected" : "temporary failure",
                             verdict.reason);
}

struct Identity {
    std::string user, home, shell;
    std::string uid, gid, groups;  // empty: the database names no ids
};

// Everything secret lives in here and is wiped when it returns.
int check(Identity& who) {
    // The apoppw scheme's settings, checked before anything is read.
    std::optional<ApopSettings> apop;
    if (const char* mode = std::getenv("CHECKPASSWORD_APOP"); mode != nullptr && mode[0] != '\0') {
        std::string why;
        if (std::string_view(mode) != "1")
            why = "CHECKPASSWORD_APOP must be 1 or unset";
        else if (const char* file = std::getenv("CHECKPASSWORD_FILE"); file != nullptr && file[0] != '\0')
            why = "CHECKPASSWORD_APOP and CHECKPASSWORD_FILE are both set; use one";
        else
            apop = apop_settings(std::getenv("QMAILHOME"), std::getenv("CHECKPASSWORD_MIN_UID"), why);
        if (!apop) {
            log_event("config", "error", why);
            return 111;
        }
    }

    smtpauth::Secret input;
    switch (read_credentials(3, input)) {
    case ReadResult::ok: break;
    case ReadResult::too_long:
        log_event("credentials", "rejected", "more than 512 bytes on descriptor 3");
        return 1;
    case ReadResult::read_error:
        log_event("credentials", "failed", std::string("unable to read descriptor 3: ") + std::strerror(errno));
        return 111;
    }
    ::close(3);

    const auto credentials = parse_credentials(input.view());
    if (!credentials) {
        log_event("credentials", "malformed", "descriptor 3 lacks a login and a password, each ending in NUL");
        return 2;
    }

    Account account;
    if (apop) {
        const Verdict verdict = check_apop(*credentials, *apop, account);
        if (verdict.exit_code != 0) {
            log_verdict(credentials->login, verdict);
            return verdict.exit_code;
        }
        who = {account.user, account.home, account.shell, account.uid, account.gid, account.groups};
        return 0;
    }
    std::string why;
    const Lookup found =
        find_account(credentials->login, std::getenv("CHECKPASSWORD_FILE"), account, why);
    if (found == Lookup::error) {
        log_verdict(credentials->login, {111, why});
        return 111;
    }
    const Verdict verdict = judge(*credentials, found == Lookup::found ? &account : nullptr);
    if (verdict.exit_code != 0) {
        log_verdict(credentials->login, verdict);
        return verdict.exit_code;
    }
    who = {account.user, account.home, account.shell, account.uid, account.gid, account.groups};
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Forked for one attempt: the connection is its caller's (qmail-popup's,
    // tcpserver's child), or smtp_auth's, which says so in SMTPAUTH_PID.
    smtpauth::set_log_program("checkpassword_nosu", smtpauth::LogPid::caller);
    if (argc < 2) {
        log_event("config", "error", "usage: checkpassword_nosu prog [args...]");
        return 2;
    }
    Identity who;
    if (const int code = check(who); code != 0) return code;

    if (::setenv("USER", who.user.c_str(), 1) != 0 ||
        ::setenv("HOME", who.home.c_str(), 1) != 0 ||
        ::setenv("SHELL", who.shell.c_str(), 1) != 0) {
        log_event("exec", "failed", "unable to set USER, HOME and SHELL: out of memory");
        return 111;
    }
    // For a PROG that switches to the account (authreport): set, or unset so
    // that no value from our caller passes for the account's.
    const std::pair<const char*, const std::string*> ids[] = {
        {"CHECKPASSWORD_UID", &who.uid}, {"CHECKPASSWORD_GID", &who.gid}, {"CHECKPASSWORD_GROUPS", &who.groups}};
    for (const auto& [name, value] : ids) {
        if (who.uid.empty() ? ::unsetenv(name) != 0 : ::setenv(name, value->c_str(), 1) != 0) {
            log_event("exec", "failed", "unable to set CHECKPASSWORD_UID, _GID and _GROUPS: out of memory");
            return 111;
        }
    }
    ::execvp(argv[1], argv + 1);
    log_event("exec", "failed", "unable to run " + std::string(argv[1]) + ": " + std::strerror(errno));
    return 111;
}
