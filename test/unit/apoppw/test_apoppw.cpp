#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "password_file.hpp"
#include "password_input.hpp"

using namespace apoppw;
namespace fs = std::filesystem;

namespace {

// A pipe holding `text`, read end returned (the write end is closed).
int pipe_with(std::string_view text) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    REQUIRE(::write(p[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(p[1]);
    return p[0];
}

bool read_twice(std::string_view text, smtpauth::Secret& pw, std::string& why) {
    const int fd = pipe_with(text);
    const bool ok = read_password_twice(fd, pw, why);
    ::close(fd);
    return ok;
}

}  // namespace

TEST_CASE("password rules") {
    CHECK(password_problem("good one").empty());
    CHECK(password_problem("") == "the password is empty");
    CHECK(password_problem(std::string(password_limit, 'x')).empty());
    CHECK(!password_problem(std::string(password_limit + 1, 'x')).empty());
    CHECK(password_problem("a\tb") == "the password holds a control character");
    CHECK(!password_problem("!locked").empty());
    CHECK(!password_problem("*locked").empty());
}

TEST_CASE("two lines from a pipe") {
    smtpauth::Secret pw;
    std::string why;
    CHECK(read_twice("s3cret\ns3cret\n", pw, why));
    CHECK(pw.view() == "s3cret");
    CHECK(read_twice("crlf\r\ncrlf\r\n", pw, why));
    CHECK(pw.view() == "crlf");
    CHECK(read_twice("no-final\nno-final", pw, why));
    CHECK(!read_twice("one\ntwo\n", pw, why));
    CHECK(why == "the two passwords differ; nothing changed");
    CHECK(!read_twice("only once\n", pw, why));
    CHECK(why == "no password given (end of input)");
    CHECK(!read_twice("\n\n", pw, why));
    CHECK(why == "the password is empty");
    const std::string longer(password_limit + 1, 'x');
    CHECK(!read_twice(longer + "\n" + longer + "\n", pw, why));
    CHECK(why.starts_with("the password is longer than"));
}

TEST_CASE("the file: mode 0600, replaced atomically, no temporary left") {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/apoppw_test_XXXXXX";
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const mode_t old_mask = ::umask(0);  // the mode must not depend on the umask
    std::string why;
    REQUIRE_MESSAGE(write_password_file(dir, ".apop-x", "first", why), why);
    REQUIRE_MESSAGE(write_password_file(dir, ".apop-x", "second", why), why);
    ::umask(old_mask);
    struct stat st {};
    REQUIRE(::stat((dir + "/.apop-x").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    std::stringstream content;
    content << std::ifstream(dir + "/.apop-x").rdbuf();
    CHECK(content.str() == "second\n");
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
    CHECK(!write_password_file(dir + "/missing", ".apop", "x", why));
    fs::remove_all(dir);
}
