#include "apop.hpp"

#include <charconv>
#include <pwd.h>

#include "apop_file.hpp"
#include "dot_qmail.hpp"
#include "mailbox.hpp"
#include "verify.hpp"

namespace checkpassword_nosu {

namespace {

Verdict refuse(const Credentials& c, std::string_view why) {
    spend_dummy_crypt(c.password);  // as long as a wrong password takes
    return {1, std::string(why)};
}

}  // namespace

std::optional<ApopSettings> apop_settings(const char* qmail_home, const char* min_uid,
                                          std::string& why) {
    ApopSettings out;
    if (qmail_home != nullptr && qmail_home[0] != '\0') {
        if (qmail_home[0] != '/') {
            why = "QMAILHOME must be an absolute path";
            return std::nullopt;
        }
        out.qmail_home = qmail_home;
    }
    if (min_uid != nullptr && min_uid[0] != '\0') {
        const std::string_view text = min_uid;
        std::uint32_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || text.front() == '+') {
            why = "CHECKPASSWORD_MIN_UID must be a number from 0 to 4294967295";
            return std::nullopt;
        }
        out.min_uid = value;
    }
    return out;
}

Verdict check_apop(const Credentials& c, const ApopSettings& settings, Account& account) {
    if (c.password.empty()) return refuse(c, "empty password");
    Assignment box;
    std::string why;
    switch (find_mailbox(c.login, settings.qmail_home, box, why)) {
    case Lookup::found: break;
    case Lookup::unknown: return refuse(c, why);
    case Lookup::error: return {111, why};
    }
    if (box.uid == 0) return refuse(c, "uid 0 is never accepted");
    if (box.uid < settings.min_uid)
        return refuse(c, "uid " + std::to_string(box.uid) + " is below CHECKPASSWORD_MIN_UID " +
                             std::to_string(settings.min_uid));
    if (!smtpauth::extension_is_safe(box.ext)) return refuse(c, "extension holds a '/'");

    const std::string path = box.home + "/.apop" + smtpauth::dot_qmail_suffix(box.dash, box.ext);
    account.secret.clear();
    switch (read_apop_file(path, box.uid, account.secret, why)) {
    case ApopFile::ok: break;
    case ApopFile::refused: return refuse(c, why);
    case ApopFile::error: return {111, why};
    }
    account.user = box.user;
    account.home = box.home;
    const struct passwd* pw = ::getpwnam(box.user.c_str());
    account.shell = pw != nullptr && pw->pw_shell != nullptr && pw->pw_shell[0] != '\0'
                        ? pw->pw_shell
                        : "/usr/sbin/nologin";
    // The ids qmail-lspawn delivers with: uid, gid, and the gid as the only
    // group (its prot_gid), for the as-user mode.
    account.uid = std::to_string(box.uid);
    account.gid = std::to_string(box.gid);
    account.groups = account.gid;
    account.uid_zero = false;
    account.expired = false;
    account.scheme = "PLAIN";
    return judge(c, &account);
}

}  // namespace checkpassword_nosu
