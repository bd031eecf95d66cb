#include <doctest/doctest.h>

#include "command.hpp"
#include "sasl.hpp"
#include "verifier.hpp"

using namespace smtpauth;
using namespace smtp_auth;

TEST_CASE("commands: the verb runs to the first space, case-insensitive") {
    auto c = parse_command("ehlo client.example\r\n");
    CHECK(c.verb == "EHLO");
    CHECK(c.argument == "client.example");
    c = parse_command("QUIT\n");
    CHECK(c.verb == "QUIT");
    CHECK(c.argument.empty());
    c = parse_command("MaIl FROM:<a@b> SIZE=10\r\n");
    CHECK(c.verb == "MAIL");
    CHECK(c.argument == "FROM:<a@b> SIZE=10");
    CHECK(parse_command("EHLOx\r\n").verb == "EHLOX");
    CHECK(parse_command(std::string_view("NO\0OP\r\n", 7)).verb == std::string("NO\0OP", 5));
    CHECK(strip_line_end("a\r\r\n") == "a\r");
}

TEST_CASE("AUTH arguments: mechanism and optional initial response") {
    auto a = parse_auth_arguments("plain AGEAYg==");
    REQUIRE(a);
    CHECK(a->mechanism == "PLAIN");
    CHECK(a->initial_response == "AGEAYg==");
    a = parse_auth_arguments("LOGIN");
    REQUIRE(a);
    CHECK_FALSE(a->initial_response);
    a = parse_auth_arguments("PLAIN =");
    REQUIRE(a);
    CHECK(a->initial_response == "=");
    CHECK_FALSE(parse_auth_arguments(""));
    CHECK_FALSE(parse_auth_arguments("   "));
    CHECK_FALSE(parse_auth_arguments("PLAIN a b"));
}

namespace {
std::string_view with_nuls(const char* s, std::size_t n) { return {s, n}; }
}  // namespace

TEST_CASE("PLAIN: authzid NUL authcid NUL password") {
    auto m = make_mechanism(Mechanism::plain, "mx");
    auto step = m->start(with_nuls("\0alice\0secret", 13));
    CHECK(step.kind == SaslStep::Kind::done);
    CHECK(m->credentials().user == "alice");
    CHECK(m->credentials().secret.view() == "secret");
    CHECK(m->credentials().challenge.empty());

    m = make_mechanism(Mechanism::plain, "mx");
    step = m->start(std::nullopt);
    CHECK(step.kind == SaslStep::Kind::challenge);
    CHECK(step.challenge.empty());
    CHECK(m->step(with_nuls("alice\0alice\0pw", 14)).kind == SaslStep::Kind::done);

    m = make_mechanism(Mechanism::plain, "mx");
    CHECK(m->start(with_nuls("bob\0alice\0pw", 12)).kind == SaslStep::Kind::bad_credentials);
    for (auto bad : {with_nuls("alice", 5), with_nuls("\0alice", 6), with_nuls("\0a\0b\0", 5),
                     with_nuls("", 0)}) {
        m = make_mechanism(Mechanism::plain, "mx");
        CHECK(m->start(bad).kind == SaslStep::Kind::malformed);
    }
    // Empty user or password parse, and are refused by the dialogue.
    m = make_mechanism(Mechanism::plain, "mx");
    CHECK(m->start(with_nuls("\0\0", 2)).kind == SaslStep::Kind::done);
    CHECK(m->credentials().user.empty());
}

TEST_CASE("LOGIN: Username: then Password:, or the user as initial response") {
    auto m = make_mechanism(Mechanism::login, "mx");
    auto step = m->start(std::nullopt);
    REQUIRE(step.kind == SaslStep::Kind::challenge);
    CHECK(step.challenge == "Username:");
    step = m->step("alice");
    REQUIRE(step.kind == SaslStep::Kind::challenge);
    CHECK(step.challenge == "Password:");
    CHECK(m->step("secret").kind == SaslStep::Kind::done);
    CHECK(m->credentials().user == "alice");
    CHECK(m->credentials().secret.view() == "secret");

    m = make_mechanism(Mechanism::login, "mx");
    step = m->start(std::string_view("alice"));
    CHECK(step.challenge == "Password:");
    CHECK(m->step("x").kind == SaslStep::Kind::done);
}

TEST_CASE("CRAM-MD5: challenge <pid.time.random@host>, answer 'user digest'") {
    auto m = make_mechanism(Mechanism::cram_md5, "mx.example");
    CHECK_FALSE(m->accepts_initial_response());
    auto step = m->start(std::nullopt);
    REQUIRE(step.kind == SaslStep::Kind::challenge);
    CHECK(step.challenge.starts_with("<"));
    CHECK(step.challenge.ends_with("@mx.example>"));
    CHECK(step.challenge.find('.') != std::string::npos);
    CHECK(step.challenge != cram_challenge("mx.example"));  // never the same twice
    CHECK(m->step("tim b913a602c7eda7a495b4e6e7334d3890").kind == SaslStep::Kind::done);
    CHECK(m->credentials().user == "tim");
    CHECK(m->credentials().secret.view() == "b913a602c7eda7a495b4e6e7334d3890");
    CHECK(m->credentials().challenge == step.challenge);

    m = make_mechanism(Mechanism::cram_md5, "mx");
    m->start(std::nullopt);
    CHECK(m->step("a user b913a602c7eda7a495b4e6e7334d3890").kind == SaslStep::Kind::done);
    CHECK(m->credentials().user == "a user");
    m = make_mechanism(Mechanism::cram_md5, "mx");
    m->start(std::nullopt);
    CHECK(m->step("nodigest").kind == SaslStep::Kind::malformed);
    for (const char* bad : {"tim b913a602c7eda7a495b4e6e7334d389", "tim b913a602c7eda7a495b4e6e7334d38900",
                            "tim b913a602c7eda7a495b4e6e7334d389g", "tim "}) {
        m = make_mechanism(Mechanism::cram_md5, "mx");
        m->start(std::nullopt);
        CHECK(m->step(bad).kind == SaslStep::Kind::malformed);
    }
}

TEST_CASE("the fd-3 payload is the qmail AUTH patch format, at most 512 octets") {
    Credentials c;
    c.user = "alice";
    c.secret.str() = "secret";
    CHECK(checkpassword_payload(c).view() == with_nuls("alice\0secret\0\0", 14));
    c.challenge = "<1.2@mx>";
    CHECK(checkpassword_payload(c).view() == with_nuls("alice\0secret\0<1.2@mx>\0", 22));
    c.challenge.clear();
    c.user.assign(254, 'u');
    c.secret.str().assign(255, 'p');
    CHECK(checkpassword_payload(c).size() == 512);
    c.user.push_back('u');  // 255 + 255 + 3 = 513 (REFERENCE 3.02)
    CHECK(checkpassword_payload(c).empty());
}

TEST_CASE("the fd-3 payload cannot carry a NUL inside a field: no challenge of the client's choosing") {
    Credentials c;
    c.user = "alice";
    c.secret.str().assign("0123456789abcdef0123456789abcdef\0<1.2@mx.example>", 49);
    CHECK(checkpassword_payload(c).empty());
    c.secret.str() = "secret";
    c.user.assign("ali\0ce", 6);
    CHECK(checkpassword_payload(c).empty());
}

TEST_CASE("server-first mechanisms take no initial response, whichever backend runs them (RFC 4954 4)") {
    CHECK(server_first("CRAM-MD5"));
    CHECK(server_first("DIGEST-MD5"));
    // Client-first, or LOGIN, whose "AUTH LOGIN <user>" clients send.
    for (const auto* name : {"PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "GSSAPI", "NTLM", "OAUTHBEARER",
                             "XOAUTH2", "EXTERNAL", "OTP", "CRAM-MD5X", ""})
        CHECK_MESSAGE(!server_first(name), name);
    // The local mechanisms say the same of themselves.
    for (const auto m : {Mechanism::plain, Mechanism::login, Mechanism::cram_md5})
        CHECK(make_mechanism(m, "mx")->accepts_initial_response() == !server_first(mechanism_name(m)));
}
