#include "judge.hpp"

#include "passwd_file.hpp"
#include "system_account.hpp"
#include "verify.hpp"

namespace checkpassword_nosu {

namespace {

Verdict refuse(const Credentials& c, std::string_view why, bool crypt_done) {
    if (!crypt_done) spend_dummy_crypt(c.password);
    return {1, std::string(why)};
}

Verdict check_cram(const Credentials& c, const Account& a, SchemeKind kind) {
    if (kind != SchemeKind::plain)
        return refuse(c, "CRAM-MD5 needs a plaintext ({PLAIN}) password", false);
    switch (verify_cram_md5(c.password, a.secret.view(), c.third)) {
    case CramResult::match: return {0, {}};
    case CramResult::mismatch: return refuse(c, "wrong CRAM-MD5 digest", false);
    case CramResult::error: break;
    }
    return {111, "unable to compute HMAC-MD5"};
}

}  // namespace

Verdict judge(const Credentials& c, const Account* a) {
    if (c.password.empty()) return refuse(c, "empty password", false);
    if (c.login == "root") return refuse(c, "root is never accepted", false);
    if (a == nullptr) return refuse(c, "unknown user", false);
    if (a->uid_zero || a->user == "root") return refuse(c, "uid 0 is never accepted", false);
    if (a->expired) return refuse(c, "account expired", false);
    if (a->secret.empty()) return refuse(c, "no password set", false);
    if (is_locked(a->secret.view())) return refuse(c, "account locked", false);
    const SchemeKind kind = scheme_kind(a->scheme);
    if (kind == SchemeKind::unknown)
        return refuse(c, "unknown password scheme {" + a->scheme + "}",
                      false);

    if (!c.third.empty() && looks_like_cram_challenge(c.third)) return check_cram(c, *a, kind);

    if (kind == SchemeKind::plain)
        return verify_plain(c.password, a->secret.view()) ? Verdict{0, {}}
                                                           : refuse(c, "wrong password", false);
    switch (verify_crypt(c.password, a->secret.view())) {
    case CryptResult::match: return {0, {}};
    case CryptResult::mismatch: return refuse(c, "wrong password", true);
    case CryptResult::unusable: break;
    }
    return refuse(c, "password hash not understood by crypt(3)", false);
}

Lookup find_account(std::string_view login, const char* passwd_file, Account& out,
                    std::string& why) {
    if (passwd_file != nullptr && passwd_file[0] != '\0')
        return find_passwd_file_account(passwd_file, login, out, why);
    return find_system_account(login, out, why);
}

}  // namespace checkpassword_nosu
