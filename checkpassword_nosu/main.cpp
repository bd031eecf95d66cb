// checkpassword_nosu prog [args...]
//
// Reads "login\0password\0timestamp\0" from descriptor 3, checks it against
// CHECKPASSWORD_FILE (Dovecot passwd-file) or the system accounts, and on
// success sets USER, HOME and SHELL (and CHECKPASSWORD_UID, _GID, _GROUPS
// when the account has ids) and runs prog. It never changes uid, gid,
// groups or directory: the caller does that, if anyone. Exit 1: refused;
// 2: misuse; 111: temporary failure. The superuser is always refused.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <utility>

#include "fd3.hpp"
#include "judge.hpp"
#include "log.hpp"
#include "secret.hpp"

using namespace checkpassword_nosu;

namespace {

constexpr std::string_view program = "checkpassword_nosu";

void log(std::string_view message) { smtpauth::log_line(program, message); }

struct Identity {
    std::string user, home, shell;
    std::string uid, gid, groups;  // empty: the database names no ids
};

// Everything secret lives in here and is wiped when it returns.
int check(Identity& who) {
    smtpauth::Secret input;
    switch (read_credentials(3, input)) {
    case ReadResult::ok: break;
    case ReadResult::too_long:
        log("refused: more than 512 bytes on descriptor 3");
        return 1;
    case ReadResult::read_error:
        log(std::string("unable to read descriptor 3: ") + std::strerror(errno));
        return 111;
    }
    ::close(3);

    const auto credentials = parse_credentials(input.view());
    if (!credentials) {
        log("misuse: descriptor 3 lacks login\\0password\\0");
        return 2;
    }

    Account account;
    std::string why;
    const Lookup found =
        find_account(credentials->login, std::getenv("CHECKPASSWORD_FILE"), account, why);
    if (found == Lookup::error) {
        log(why);
        return 111;
    }
    const Verdict verdict = judge(*credentials, found == Lookup::found ? &account : nullptr);
    if (verdict.exit_code != 0) {
        log(verdict.reason);
        return verdict.exit_code;
    }
    who = {account.user, account.home, account.shell, account.uid, account.gid, account.groups};
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        log("usage: checkpassword_nosu prog [args...]");
        return 2;
    }
    Identity who;
    if (const int code = check(who); code != 0) return code;

    if (::setenv("USER", who.user.c_str(), 1) != 0 ||
        ::setenv("HOME", who.home.c_str(), 1) != 0 ||
        ::setenv("SHELL", who.shell.c_str(), 1) != 0) {
        log("unable to set USER, HOME and SHELL: out of memory");
        return 111;
    }
    // For a PROG that switches to the account (authreport): set, or unset so
    // that no value from our caller passes for the account's.
    const std::pair<const char*, const std::string*> ids[] = {
        {"CHECKPASSWORD_UID", &who.uid}, {"CHECKPASSWORD_GID", &who.gid}, {"CHECKPASSWORD_GROUPS", &who.groups}};
    for (const auto& [name, value] : ids) {
        if (who.uid.empty() ? ::unsetenv(name) != 0 : ::setenv(name, value->c_str(), 1) != 0) {
            log("unable to set CHECKPASSWORD_UID, _GID and _GROUPS: out of memory");
            return 111;
        }
    }
    ::execvp(argv[1], argv + 1);
    log("unable to run \"" + smtpauth::escape_for_log(argv[1]) + "\": " + std::strerror(errno));
    return 111;
}
