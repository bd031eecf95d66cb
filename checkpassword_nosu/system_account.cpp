#include "system_account.hpp"

#include <cerrno>
#include <cstring>
#include <pwd.h>
#include <shadow.h>
#include <unistd.h>

#include "log.hpp"

namespace checkpassword_nosu {

bool shadow_expired(long expire_day, long today) noexcept {
    return expire_day >= 0 && today >= expire_day;
}

long days_since_epoch(std::time_t now) noexcept {
    return static_cast<long>(now / (24 * 60 * 60));
}

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
            why = "unable to read the shadow entry of user \"" + smtpauth::escape_for_log(user) +
                  "\" (not running as root?)";
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
