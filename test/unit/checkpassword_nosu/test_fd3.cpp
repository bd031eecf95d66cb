#include <doctest/doctest.h>

#include <string>
#include <unistd.h>

#include "fd3.hpp"

using namespace checkpassword_nosu;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

// Feeds `bytes` through a real pipe, as the caller's descriptor 3 would.
ReadResult read_through_pipe(const std::string& bytes, smtpauth::Secret& out) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(bytes.size() < 4096);  // fits in the pipe buffer: no writer thread needed
    REQUIRE(::write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fds[1]);
    const ReadResult result = read_credentials(fds[0], out);
    ::close(fds[0]);
    return result;
}

}  // namespace

TEST_CASE("the three fields, exactly") {
    const auto data = "alice\0secret\0" "1700000000\0"s;
    const auto c = parse_credentials(data);
    REQUIRE(c);
    CHECK(c->login == "alice");
    CHECK(c->password == "secret");
    CHECK(c->third == "1700000000");
}

TEST_CASE("data after the third NUL is ignored") {
    const auto data = "bob\0pw\0\0extra\0more"s;
    const auto c = parse_credentials(data);
    REQUIRE(c);
    CHECK(c->login == "bob");
    CHECK(c->password == "pw");
    CHECK(c->third.empty());
}

TEST_CASE("two NULs are enough, as for DJB's checkpassword") {
    const auto two = "bob\0pw\0"s;
    auto c = parse_credentials(two);
    REQUIRE(c);
    CHECK(c->password == "pw");
    CHECK(c->third.empty());
    // An unterminated third field runs to the end.
    const auto unterminated = "bob\0pw\0<1.2@host>"s;
    c = parse_credentials(unterminated);
    REQUIRE(c);
    CHECK(c->third == "<1.2@host>");
}

TEST_CASE("missing NULs are misuse") {
    CHECK_FALSE(parse_credentials(""sv));
    CHECK_FALSE(parse_credentials("alice"sv));
    CHECK_FALSE(parse_credentials("alice\0secret"sv));
}

TEST_CASE("an empty password and an empty login parse; the judge refuses them") {
    const auto no_password = "alice\0\0\0"s;
    auto c = parse_credentials(no_password);
    REQUIRE(c);
    CHECK(c->login == "alice");
    CHECK(c->password.empty());
    const auto no_login = "\0pw\0\0"s;
    c = parse_credentials(no_login);
    REQUIRE(c);
    CHECK(c->login.empty());
}

TEST_CASE("CRAM-MD5 challenges are recognised by shape") {
    CHECK(looks_like_cram_challenge("<1896.697170952@postoffice.reston.mci.net>"));
    CHECK(looks_like_cram_challenge("<@>"));
    CHECK_FALSE(looks_like_cram_challenge(""));
    CHECK_FALSE(looks_like_cram_challenge("1700000000"));
    CHECK_FALSE(looks_like_cram_challenge("<1896.697170952>"));
    CHECK_FALSE(looks_like_cram_challenge("<a@b"));
    CHECK_FALSE(looks_like_cram_challenge("a@b>"));
    CHECK_FALSE(looks_like_cram_challenge("<>"));
}

TEST_CASE("reading descriptor 3: up to 512 bytes") {
    smtpauth::Secret out;
    const auto small = "alice\0secret\0\0"s;
    CHECK(read_through_pipe(small, out) == ReadResult::ok);
    CHECK(out.view() == small);

    // Two 255-octet fields and three NULs make 513: one too many.
    const auto full = std::string(255, 'u') + '\0' + std::string(254, 'p') + '\0' + '\0';
    REQUIRE(full.size() == 512);
    CHECK(read_through_pipe(full, out) == ReadResult::ok);
    CHECK(out.view() == full);

    const auto over = std::string(255, 'u') + '\0' + std::string(255, 'p') + '\0' + '\0';
    REQUIRE(over.size() == 513);
    CHECK(read_through_pipe(over, out) == ReadResult::too_long);
    CHECK(read_through_pipe(std::string(4000, 'x'), out) == ReadResult::too_long);

    CHECK(read_through_pipe("", out) == ReadResult::ok);
    CHECK(out.empty());
}

TEST_CASE("reading a descriptor that is not open is a read error") {
    smtpauth::Secret out;
    CHECK(read_credentials(-1, out) == ReadResult::read_error);
}
