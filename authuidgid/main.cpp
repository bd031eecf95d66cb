// authuidgid account prog [arg...]
//
// The first step of the chain when the session runs as the authenticated
// user: like setuidgid, but to the account smtp_auth put in
// SMTPAUTH_ACCOUNT after a login (uid, gid, supplementary groups, HOME),
// and to `account` (uid, gid, as setuidgid does) when there was none. Never
// to uid 0, nor, after a login, below AUTH_MIN_UID. Then runs prog as that
// account. Exit 100: usage; 111: refused or unable (the client got 421).
// See authuidgid(8).
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "account_report.hpp"
#include "log.hpp"

using namespace smtpauth;

namespace {

int config_error(std::string_view why, int exit_code = 111) { return refuse_session("config", "error", why, exit_code); }
int account_failed(std::string_view why) { return refuse_session("account", "failed", why); }

}  // namespace

int main(int argc, char** argv) {
    set_log_program("authuidgid");
    if (argc < 3) return config_error("usage: authuidgid account prog [arg...]", 100);

    SessionAccount account;
    bool set_home = false;
    if (const char* reported = std::getenv(account_variable)) {
        const auto parsed = parse_account(reported);
        if (!parsed) return account_failed(std::string("malformed ") + account_variable);
        const auto min_uid = parse_min_uid(std::getenv(min_uid_variable));
        if (!min_uid) return config_error(std::string(min_uid_variable) + " must be a number from 1 to 4294967294");
        if (const auto why = refusal(*parsed, *min_uid); !why.empty()) return refuse_session("account", "refused", why);
        account = *parsed;
        set_home = true;
    } else {
        errno = 0;
        const struct passwd* pw = ::getpwnam(argv[1]);
        if (pw == nullptr)
            return config_error("unknown account " + std::string(argv[1]) +
                          (errno ? std::string(": ") + std::strerror(errno) : std::string()));
        if (pw->pw_uid == 0) return config_error("the default account must not be uid 0");
        account.uid = pw->pw_uid;
        account.gid = pw->pw_gid;
        account.groups = {pw->pw_gid};  // as setuidgid
    }

    if (::setgroups(account.groups.size(), account.groups.data()) != 0 || ::setgid(account.gid) != 0 ||
        ::setuid(account.uid) != 0)
        return account_failed("unable to switch to uid " + std::to_string(account.uid) + ": " + std::strerror(errno));
    if (::getuid() == 0 || ::geteuid() == 0) return account_failed("still root after setuid");  // cannot happen
    ::unsetenv(account_variable);
    if (set_home && ::setenv("HOME", account.home.c_str(), 1) != 0) return account_failed("unable to set HOME");

    ::execvp(argv[2], argv + 2);
    return refuse_session("exec", "failed", "unable to run " + std::string(argv[2]) + ": " + std::strerror(errno));
}
