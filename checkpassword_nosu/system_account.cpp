#include "system_account.hpp"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <unistd.h>

#include <vector>

#include "account_report.hpp"

namespace checkpassword_nosu {

bool shadow_expired(long expire_day, long today) noexcept {
    return expire_day >= 0 && today >= expire_day;
}

long days_since_epoch(std::time_t now) noexcept {
    return static_cast<long>(now / (24 * 60 * 60));
}

namespace {

// The account's groups from the group database, "1,2,3": its gid first.
std::string group_list(const char* user, gid_t gid) {
    std::vector<gid_t> groups(smtpauth::account_max_groups);
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(user, gid, groups.data(), &n) < 0) n = 0;  // too many: the gid alone
    std::string out = std::to_string(gid);
    for (int i = 0; i < n; ++i)
        if (groups[static_cast<std::size_t>(i)] != gid) out += ',' + std::to_string(groups[static_cast<std::size_t>(i)]);
    return out;
}

}  // namespace

Lookup find_system_account(std::string_view user, Account& out, std::string& why) {
    const std::string name(user);
    if (name.empty()) return Lookup::unknown;
    errno = 0;
    const struct passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) return Lookup::unknown;
    out.user = pw->pw_name;
    out.home = pw->pw_dir;
    out.shell = pw->pw_shell;
    out.uid_zero = pw->pw_uid == 0;
    out.uid = std::to_string(pw->pw_uid);
    out.gid = std::to_string(pw->pw_gid);
    out.groups = group_list(out.user.c_str(), pw->pw_gid);
    out.expired = false;
    out.scheme = "CRYPT";
    // Copied now: the next lookup may reuse libc's buffers.
    const std::string_view pw_passwd = pw->pw_passwd ? pw->pw_passwd : "";
    out.secret.clear();
    if (pw_passwd != "x") {
        out.secret.str().reserve(pw_passwd.size());
        out.secret.str().assign(pw_passwd);
    }

    errno = 0;
    const struct spwd* sp = ::getspnam(name.c_str());
    if (sp == nullptr) {
        // errno is no guide: with "shadow: files systemd" in nsswitch.conf an
        // unreadable file ends as "not found" with errno 0. A passwd entry
        // that points to shadow ("x") while we are not root means we could
        // not read it.
        const int error = errno;
        if (error == EACCES || (pw_passwd == "x" && ::geteuid() != 0)) {
            why = "unable to read its shadow entry: not running as root?";
            if (error != 0) why += std::string(": ") + std::strerror(error);
            return Lookup::error;
        }
        return Lookup::found;  // no shadow entry: pw_passwd is all there is
    }
    const std::string_view hash = sp->sp_pwdp ? sp->sp_pwdp : "";
    out.secret.clear();
    out.secret.str().reserve(hash.size());
    out.secret.str().assign(hash);
    out.expired = shadow_expired(sp->sp_expire, days_since_epoch(std::time(nullptr)));
    return Lookup::found;
}

}  // namespace checkpassword_nosu
