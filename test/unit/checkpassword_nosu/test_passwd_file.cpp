#include <doctest/doctest.h>

#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "helpers.hpp"
#include "passwd_file.hpp"

using namespace checkpassword_nosu;
using test_helpers::TempFile;

TEST_CASE("a full line") {
    const auto p = parse_passwd_line("alice:{PLAIN}secret:1000:1000:Alice A:/home/alice:/bin/sh:userdb_quota=1G");
    REQUIRE(p);
    CHECK(p->user == "alice");
    CHECK(p->scheme == "PLAIN");
    CHECK(p->secret.view() == "secret");
    CHECK(p->uid == "1000");
    CHECK(p->home == "/home/alice");
    CHECK(p->shell == "/bin/sh");
}

TEST_CASE("scheme names are case-insensitive and kept upper case") {
    auto p = parse_passwd_line("a:{sha512-crypt}$6$salt$hash");
    REQUIRE(p);
    CHECK(p->scheme == "SHA512-CRYPT");
    CHECK(p->secret.view() == "$6$salt$hash");
    p = parse_passwd_line("a:{Blf-Crypt}$2b$05$x");
    REQUIRE(p);
    CHECK(p->scheme == "BLF-CRYPT");
    p = parse_passwd_line("a:{cleartext}pw");
    REQUIRE(p);
    CHECK(p->scheme == "CLEARTEXT");
    CHECK(p->secret.view() == "pw");
}

TEST_CASE("no scheme means a crypt(3) string") {
    const auto p = parse_passwd_line("bob:$y$j9T$salt$hash");
    REQUIRE(p);
    CHECK(p->scheme == "CRYPT");
    CHECK(p->secret.view() == "$y$j9T$salt$hash");
    // An opening brace without a closing one is not a scheme either.
    const auto q = parse_passwd_line("bob:{PLAINpw");
    REQUIRE(q);
    CHECK(q->scheme == "CRYPT");
    CHECK(q->secret.view() == "{PLAINpw");
}

TEST_CASE("missing fields are empty") {
    auto p = parse_passwd_line("carol:{PLAIN}pw");
    REQUIRE(p);
    CHECK(p->uid.empty());
    CHECK(p->home.empty());
    CHECK(p->shell.empty());
    p = parse_passwd_line("carol:");
    REQUIRE(p);
    CHECK(p->secret.empty());
    p = parse_passwd_line("carol:{PLAIN}pw:::::");
    REQUIRE(p);
    CHECK(p->home.empty());
}

TEST_CASE("blank lines, comments and lines without a user are not accounts") {
    CHECK_FALSE(parse_passwd_line(""));
    CHECK_FALSE(parse_passwd_line("# alice:{PLAIN}pw"));
    CHECK_FALSE(parse_passwd_line("#alice:{PLAIN}pw"));
    CHECK_FALSE(parse_passwd_line(":{PLAIN}pw"));
    CHECK_FALSE(parse_passwd_line("alice"));
}

TEST_CASE("uid 0 by number or by name") {
    CHECK(uid_field_is_root("0"));
    CHECK(uid_field_is_root("000"));
    CHECK(uid_field_is_root("root"));
    CHECK_FALSE(uid_field_is_root(""));
    CHECK_FALSE(uid_field_is_root("1000"));
    CHECK_FALSE(uid_field_is_root("10"));
    CHECK_FALSE(uid_field_is_root("no-such-user-here"));
}

namespace {

Lookup find_in(const std::string& text, std::string_view user, PasswdLine& out) {
    TempFile file(text);
    const int fd = ::open(file.path().c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::string why;
    const Lookup result = find_passwd_line(fd, user, out, why);
    ::close(fd);
    return result;
}

}  // namespace

TEST_CASE("looking a user up in a file: the first matching line wins") {
    const std::string text =
        "# accounts\n"
        "\n"
        "alice:{PLAIN}first\n"
        "alicex:{PLAIN}other\n"
        "bob:{PLAIN}bobpw:1001:1001::/home/bob:/bin/false\n"
        "alice:{PLAIN}second\n"
        "last:{PLAIN}no-newline";
    PasswdLine line;
    REQUIRE(find_in(text, "alice", line) == Lookup::found);
    CHECK(line.secret.view() == "first");
    REQUIRE(find_in(text, "bob", line) == Lookup::found);
    CHECK(line.home == "/home/bob");
    REQUIRE(find_in(text, "last", line) == Lookup::found);
    CHECK(line.secret.view() == "no-newline");
    CHECK(find_in(text, "alic", line) == Lookup::unknown);
    CHECK(find_in(text, "nobody", line) == Lookup::unknown);
    CHECK(find_in(text, "", line) == Lookup::unknown);
    CHECK(find_in(text, "# accounts", line) == Lookup::unknown);
}

TEST_CASE("overlong lines are skipped, the next line still counts") {
    const std::string longline = "dave:{PLAIN}" + std::string(passwd_line_limit, 'x');
    const std::string text = longline + "\ndave:{PLAIN}short\n";
    PasswdLine line;
    REQUIRE(find_in(text, "dave", line) == Lookup::found);
    CHECK(line.secret.view() == "short");
    CHECK(find_in(longline + "\n", "dave", line) == Lookup::unknown);
    CHECK(find_in(longline, "dave", line) == Lookup::unknown);

    // Exactly at the limit is still a line.
    const std::string at_limit = "dave:{PLAIN}" + std::string(passwd_line_limit - 12, 'y');
    REQUIRE(at_limit.size() == passwd_line_limit);
    REQUIRE(find_in(at_limit + "\n", "dave", line) == Lookup::found);
    CHECK(line.secret.size() == passwd_line_limit - 12);
}

TEST_CASE("a file with too many lines is an error, not a silent miss") {
    std::string text(passwd_lines_limit, '\n');
    text += "late:{PLAIN}pw\n";
    PasswdLine line;
    CHECK(find_in(text, "late", line) == Lookup::error);
    // Exactly the limit is fine.
    std::string exact(passwd_lines_limit - 1, '\n');
    exact += "late:{PLAIN}pw\n";
    CHECK(find_in(exact, "late", line) == Lookup::found);
}

TEST_CASE("a file account gets defaults for HOME and SHELL") {
    TempFile file("erin:{PLAIN}pw\nfrank:{PLAIN}pw:1002:1002::/home/frank:/bin/sh\nzero:{PLAIN}pw:0\n");
    Account a;
    std::string why;
    REQUIRE(find_passwd_file_account(file.path(), "erin", a, why) == Lookup::found);
    CHECK(a.user == "erin");
    CHECK(a.home == "/");
    CHECK(a.shell == "/usr/sbin/nologin");
    CHECK_FALSE(a.uid_zero);
    REQUIRE(find_passwd_file_account(file.path(), "frank", a, why) == Lookup::found);
    CHECK(a.home == "/home/frank");
    CHECK(a.shell == "/bin/sh");
    REQUIRE(find_passwd_file_account(file.path(), "zero", a, why) == Lookup::found);
    CHECK(a.uid_zero);
}

TEST_CASE("an unreadable file is an error") {
    Account a;
    std::string why;
    const std::string missing = TempFile("").path() + ".missing";
    CHECK(find_passwd_file_account(missing, "erin", a, why) == Lookup::error);
    CHECK(why.find("unable to open") != std::string::npos);
    // A directory opens but does not read.
    CHECK(find_passwd_file_account("/", "erin", a, why) == Lookup::error);
}
