// The apoppw scheme against real files in a scratch qmail home and a
// scratch home directory: modes, symlinks, owners, and the whole check.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "apop.hpp"
#include "apop_file.hpp"
#include "dot_qmail.hpp"
#include "mailbox.hpp"
#include "verify.hpp"

using namespace checkpassword_nosu;
namespace fs = std::filesystem;

namespace {

// Root owns nothing the check accepts, so as root the files go to nobody.
const std::uint32_t owner = ::geteuid() == 0 ? 65534 : ::geteuid();

struct Scratch {
    fs::path root;
    Scratch() {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/apop_test_XXXXXX";
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        root = pattern;
        fs::create_directories(root / "qmail/control");
        fs::create_directories(root / "qmail/users");
        fs::create_directories(root / "vdom");
    }
    ~Scratch() { fs::remove_all(root); }

    void write(const fs::path& path, std::string_view text, mode_t mode = 0600) const {
        std::ofstream(path, std::ios::binary) << text;
        REQUIRE(::chmod(path.c_str(), mode) == 0);
        if (::geteuid() == 0) REQUIRE(::chown(path.c_str(), owner, owner) == 0);
    }
    std::string qmail() const { return (root / "qmail").string(); }
};

Credentials plain(std::string_view login, std::string_view password) {
    return {login, password, {}};
}

}  // namespace

TEST_CASE("dot-qmail names: qmail-local's safe extension") {
    CHECK(smtpauth::dot_qmail_suffix("", "") == "");
    CHECK(smtpauth::dot_qmail_suffix("-", "Info.Sales") == "-info:sales");
    CHECK(smtpauth::extension_is_safe("a-b.c"));
    CHECK(!smtpauth::extension_is_safe("../x"));
}

TEST_CASE("apop file: first line only, without CR") {
    CHECK(first_line("pw\nrest") == "pw");
    CHECK(first_line("pw\r\n") == "pw");
    CHECK(first_line("pw") == "pw");
    CHECK(first_line("\npw") == "");
}

TEST_CASE("apop file: what is refused, and why") {
    Scratch s;
    const auto file = s.root / "vdom/.apop";
    smtpauth::Secret pw;
    std::string why;

    CHECK(read_apop_file(file.string(), owner, pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" does not exist"));

    s.write(file, "secret\n", 0640);
    CHECK(read_apop_file(file.string(), owner, pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" is readable or writable by group or others"));
    REQUIRE(::chmod(file.c_str(), 0602) == 0);
    CHECK(read_apop_file(file.string(), owner, pw, why) == ApopFile::refused);

    REQUIRE(::chmod(file.c_str(), 0600) == 0);
    CHECK(read_apop_file(file.string(), owner + 1, pw, why) == ApopFile::refused);
    CHECK(why.find("is owned by uid") != std::string::npos);

    REQUIRE(read_apop_file(file.string(), owner, pw, why) == ApopFile::ok);
    CHECK(pw.view() == "secret");
    CHECK(why.find("secret") == std::string::npos);

    const auto link = s.root / "vdom/.apop-link";
    fs::create_symlink(file, link);
    CHECK(read_apop_file(link.string(), owner, pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" is a symlink"));

    const auto fifo = s.root / "vdom/.apop-fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(read_apop_file(fifo.string(), ::geteuid(), pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" is not a regular file"));
    CHECK(read_apop_file((s.root / "vdom").string(), ::geteuid(), pw, why) == ApopFile::refused);

    s.write(file, std::string(apop_file_limit + 1, 'x'));
    CHECK(read_apop_file(file.string(), owner, pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" bytes"));
    s.write(file, "\nsecond line\n");
    CHECK(read_apop_file(file.string(), owner, pw, why) == ApopFile::refused);
    CHECK(why.ends_with(" holds no password on its first line"));
}

TEST_CASE("apop: a virtual address through virtualdomains and users/assign") {
    Scratch s;
    const auto vdom = s.root / "vdom";
    const std::string id = std::to_string(owner);
    s.write(s.root / "qmail/control/virtualdomains", "virtual.example:vprefix\n", 0644);
    s.write(s.root / "qmail/users/assign",
            "+vprefix-:vmail:" + id + ":" + id + ":" + vdom.string() + ":-::\n.\n", 0644);
    s.write(vdom / ".apop-info", "info-pw\n");

    Assignment box;
    std::string why;
    REQUIRE(find_mailbox("info@Virtual.Example", s.qmail(), box, why) == Lookup::found);
    CHECK(box.home == vdom.string());
    CHECK(box.ext == "info");
    CHECK(find_mailbox("x@elsewhere.example", s.qmail(), box, why) == Lookup::unknown);
    CHECK(why == "domain not in control/virtualdomains");

    ApopSettings settings;
    settings.qmail_home = s.qmail();
    settings.min_uid = 1;
    Account account;
    CHECK(check_apop(plain("info@virtual.example", "info-pw"), settings, account).exit_code == 0);
    CHECK(account.user == "vmail");
    CHECK(account.home == vdom.string());
    const Verdict wrong = check_apop(plain("info@virtual.example", "nope"), settings, account);
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.reason == "wrong password");

    // CRAM-MD5 against the plaintext in the file.
    const std::string challenge = "<1.2@host.example>";
    smtpauth::Secret digest;
    REQUIRE(cram_md5_hex("info-pw", challenge, digest));
    CHECK(check_apop({"info@virtual.example", digest.view(), challenge}, settings, account)
              .exit_code == 0);
    CHECK(check_apop({"info@virtual.example", "0123456789abcdef0123456789abcdef", challenge},
                     settings, account)
              .exit_code == 1);

    // Below the minimum uid.
    settings.min_uid = owner + 1;
    const Verdict low = check_apop(plain("info@virtual.example", "info-pw"), settings, account);
    CHECK(low.exit_code == 1);
    CHECK(low.reason.find("is below CHECKPASSWORD_MIN_UID") != std::string::npos);
}

TEST_CASE("apop: uid 0 in users/assign is refused whatever the file says") {
    Scratch s;
    s.write(s.root / "qmail/users/assign", "=boss:root:0:0:/:::\n.\n", 0644);
    ApopSettings settings;
    settings.qmail_home = s.qmail();
    settings.min_uid = 0;
    Account account;
    const Verdict v = check_apop(plain("boss", "pw"), settings, account);
    CHECK(v.exit_code == 1);
    CHECK(v.reason == "uid 0 is never accepted");
}

TEST_CASE("apop: a broken users/assign is a temporary failure") {
    Scratch s;
    s.write(s.root / "qmail/users/assign", "=boss:x:1:1:/:::\n", 0644);
    ApopSettings settings;
    settings.qmail_home = s.qmail();
    Account account;
    const Verdict v = check_apop(plain("boss", "pw"), settings, account);
    CHECK(v.exit_code == 111);
    CHECK(v.reason.find("users/assign line 2") != std::string::npos);
}

TEST_CASE("apop settings from the environment's values") {
    std::string why;
    auto s = apop_settings(nullptr, nullptr, why);
    REQUIRE(s);
    CHECK(s->qmail_home == "/var/qmail");
    CHECK(s->min_uid == 1000);
    s = apop_settings("/q", "500", why);
    REQUIRE(s);
    CHECK(s->qmail_home == "/q");
    CHECK(s->min_uid == 500);
    CHECK(!apop_settings("relative", nullptr, why));
    CHECK(!apop_settings(nullptr, "-1", why));
    CHECK(!apop_settings(nullptr, "10x", why));
    CHECK(!apop_settings(nullptr, "4294967296", why));
}
