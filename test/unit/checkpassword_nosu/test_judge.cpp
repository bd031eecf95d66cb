#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"
#include "judge.hpp"
#include "system_account.hpp"

using namespace checkpassword_nosu;
using test_helpers::make_hash;
using test_helpers::TempFile;

namespace {

constexpr const char* cram_challenge = "<1896.697170952@postoffice.reston.mci.net>";
constexpr const char* cram_digest = "b913a602c7eda7a495b4e6e7334d3890";

// Runs the whole check against a passwd file: lookup, then verdict.
Verdict attempt(const TempFile& file, std::string_view login, std::string_view password,
                std::string_view third = "") {
    const Credentials c{login, password, third};
    Account account;
    std::string why;
    const Lookup found = find_account(login, file.path().c_str(), account, why);
    if (found == Lookup::error) return {111, why};
    return judge(c, found == Lookup::found ? &account : nullptr);
}

std::string accounts() {
    return "alice:{PLAIN}secret::::/home/alice:/bin/sh\n"
           "tim:{plain}tanstaaftanstaaf\n"
           "bob:{SHA512-CRYPT}" + make_hash("$6$", "bobpw") + "\n"
           "yves:" + make_hash("$y$", "yvespw") + "\n"
           "bea:{BLF-CRYPT}" + make_hash("$2b$", "beapw") + "\n"
           "mike:{MD5-CRYPT}" + make_hash("$1$", "mikepw") + "\n"
           "locked:!" + make_hash("$y$", "lockedpw") + "\n"
           "starred:*\n"
           "nopw:\n"
           "nopwplain:{PLAIN}\n"
           "weird:{SSHA}abcdef\n"
           "root:{PLAIN}rootpw\n"
           "toor:{PLAIN}toorpw:0:0::/root:/bin/sh\n"
           "named:{PLAIN}namedpw:root\n";
}

}  // namespace

TEST_CASE("passwd file: right passwords accepted, whatever the scheme") {
    TempFile file(accounts());
    CHECK(attempt(file, "alice", "secret").exit_code == 0);
    CHECK(attempt(file, "alice", "secret", "1700000000").exit_code == 0);
    CHECK(attempt(file, "bob", "bobpw").exit_code == 0);
    CHECK(attempt(file, "yves", "yvespw").exit_code == 0);
    CHECK(attempt(file, "bea", "beapw").exit_code == 0);
    CHECK(attempt(file, "mike", "mikepw").exit_code == 0);
}

TEST_CASE("passwd file: wrong passwords and unknown users refused") {
    TempFile file(accounts());
    for (const auto& [user, pw] : {std::pair{"alice", "Secret"}, {"bob", "bobpW"},
                                   {"yves", "wrong-one"}, {"bea", "beapw "}, {"mike", "x"},
                                   {"nosuch", "secret"}}) {
        const std::string_view shown = user;  // clang cannot capture a structured binding
        CAPTURE(shown);
        const Verdict v = attempt(file, user, pw);
        CHECK(v.exit_code == 1);
        CHECK(!v.reason.empty());
        CHECK(v.reason.find(pw) == std::string::npos);  // never the password
    }
    CHECK(attempt(file, "nosuch", "secret").reason.find("unknown user") != std::string::npos);
}

TEST_CASE("empty passwords, locked and password-less accounts are refused") {
    TempFile file(accounts());
    CHECK(attempt(file, "alice", "").exit_code == 1);
    CHECK(attempt(file, "locked", "lockedpw").exit_code == 1);
    CHECK(attempt(file, "locked", "lockedpw").reason.find("locked") != std::string::npos);
    CHECK(attempt(file, "starred", "*").exit_code == 1);
    CHECK(attempt(file, "nopw", "").exit_code == 1);
    CHECK(attempt(file, "nopw", "x").exit_code == 1);
    CHECK(attempt(file, "nopwplain", "x").exit_code == 1);
}

TEST_CASE("an unknown scheme refuses the account and says which") {
    TempFile file(accounts());
    const Verdict v = attempt(file, "weird", "abcdef");
    CHECK(v.exit_code == 1);
    CHECK(v.reason.find("{SSHA}") != std::string::npos);
}

TEST_CASE("root and uid 0 are refused even with the right password") {
    TempFile file(accounts());
    CHECK(attempt(file, "root", "rootpw").exit_code == 1);
    CHECK(attempt(file, "toor", "toorpw").exit_code == 1);
    CHECK(attempt(file, "toor", "toorpw").reason.find("uid 0") != std::string::npos);
    CHECK(attempt(file, "named", "namedpw").exit_code == 1);
    // Root cannot come in through CRAM-MD5 either.
    CHECK(attempt(file, "root", "00000000000000000000000000000000", cram_challenge).exit_code == 1);
}

TEST_CASE("system accounts: root is refused, unknown users too") {
    Account account;
    std::string why;
    // Not running as root, the shadow entry is unreadable: a temporary error.
    const Lookup found = find_account("root", nullptr, account, why);
    REQUIRE(found != Lookup::unknown);
    if (found == Lookup::found) {
        CHECK(account.uid_zero);
        CHECK(judge({"root", "whatever", ""}, &account).exit_code == 1);
    }
    CHECK(judge({"root", "whatever", ""}, nullptr).exit_code == 1);
    // An empty CHECKPASSWORD_FILE means the system accounts too.
    CHECK(find_account("root", "", account, why) == found);
    CHECK(find_account("no-such-user-cpnosu", nullptr, account, why) == Lookup::unknown);
    CHECK(judge({"no-such-user-cpnosu", "pw", ""}, nullptr).exit_code == 1);
}

TEST_CASE("any account with uid 0 is refused, whatever its name") {
    Account toor;
    toor.user = "toor";
    toor.uid_zero = true;
    toor.scheme = "CRYPT";
    toor.secret.str() = make_hash("$y$", "pw");
    CHECK(judge({"toor", "pw", ""}, &toor).exit_code == 1);
    toor.uid_zero = false;
    CHECK(judge({"toor", "pw", ""}, &toor).exit_code == 0);
}

TEST_CASE("expired accounts are refused") {
    Account a;
    a.user = "old";
    a.scheme = "CRYPT";
    a.secret.str() = make_hash("$6$", "pw");
    a.expired = true;
    const Verdict v = judge({"old", "pw", ""}, &a);
    CHECK(v.exit_code == 1);
    CHECK(v.reason.find("expired") != std::string::npos);
}

TEST_CASE("shadow expiry dates") {
    CHECK_FALSE(shadow_expired(-1, 20000));
    CHECK_FALSE(shadow_expired(20001, 20000));
    CHECK(shadow_expired(20000, 20000));
    CHECK(shadow_expired(19999, 20000));
    CHECK(shadow_expired(0, 20000));
    CHECK(days_since_epoch(0) == 0);
    CHECK(days_since_epoch(86400 * 3 + 5) == 3);
}

TEST_CASE("CRAM-MD5 against a plaintext account: RFC 2195") {
    TempFile file(accounts());
    CHECK(attempt(file, "tim", cram_digest, cram_challenge).exit_code == 0);
    CHECK(attempt(file, "tim", "B913A602C7EDA7A495B4E6E7334D3890", cram_challenge).exit_code == 0);
    const Verdict wrong = attempt(file, "tim", "b913a602c7eda7a495b4e6e7334d3891", cram_challenge);
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.reason.find("b913") == std::string::npos);  // never the digest
    // With a challenge the second field is a digest, never the password.
    CHECK(attempt(file, "tim", "tanstaaftanstaaf", cram_challenge).exit_code == 1);
    // Without one the digest is just a wrong password.
    CHECK(attempt(file, "tim", cram_digest, "").exit_code == 1);
    CHECK(attempt(file, "tim", cram_digest, "1700000000").exit_code == 1);
}

TEST_CASE("CRAM-MD5 against hashed accounts is refused") {
    TempFile file(accounts());
    const Verdict v = attempt(file, "bob", "bobpw", cram_challenge);
    CHECK(v.exit_code == 1);
    CHECK(v.reason.find("CRAM-MD5") != std::string::npos);
    CHECK(attempt(file, "yves", cram_digest, cram_challenge).exit_code == 1);
}

TEST_CASE("the reason leaves the user name to the log line's user field") {
    TempFile file(accounts());
    const Verdict v = attempt(file, "evil\n\"user\"", "pw");
    CHECK(v.exit_code == 1);
    CHECK(v.reason == "unknown user");
}

TEST_CASE("an unreadable passwd file is a temporary failure") {
    const std::string missing = TempFile("").path() + ".missing";
    Account account;
    std::string why;
    CHECK(find_account("alice", missing.c_str(), account, why) == Lookup::error);
}
