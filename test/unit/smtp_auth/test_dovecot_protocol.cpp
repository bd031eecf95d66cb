// Dovecot's auth-client protocol as smtp_auth reads it: lines, fields,
// the handshake, the replies, DOVECOT_AUTH. The real Dovecot meets these in
// test/e2e/test_dovecot.py.
#include <doctest/doctest.h>

#include <stdexcept>

#include "dovecot_protocol.hpp"

using namespace smtp_auth;

namespace {

std::vector<std::string> fields(std::string_view line) {
    auto f = dovecot_fields(line);
    REQUIRE(f.has_value());
    return *f;
}

using Status = DovecotHandshake::Status;

// Feeds LF-separated lines; returns the last status.
Status feed(DovecotHandshake& h, std::string_view text) {
    Status s = Status::more;
    while (!text.empty()) {
        const auto lf = text.find('\n');
        s = h.feed(fields(text.substr(0, lf)));
        text.remove_prefix(lf == std::string_view::npos ? text.size() : lf + 1);
    }
    return s;
}

// What Dovecot 2.3.19 says (REFERENCE 8.02).
const std::string dovecot_2_3 =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\tactive\n"
    "MECH\tSCRAM-SHA-256\tmutual-auth\nSPID\t4242\nCUID\t7\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE";

}  // namespace

TEST_CASE("lines end at LF and are bounded") {
    DovecotLineReader r;
    std::string line;
    CHECK(r.next(line) == DovecotLineReader::Status::need_more);
    r.append("VERSION\t1");
    CHECK(r.next(line) == DovecotLineReader::Status::need_more);
    r.append("\t2\nSPID\t1\nDO");
    CHECK(r.next(line) == DovecotLineReader::Status::line);
    CHECK(line == "VERSION\t1\t2");
    CHECK(r.next(line) == DovecotLineReader::Status::line);
    CHECK(line == "SPID\t1");
    CHECK(r.next(line) == DovecotLineReader::Status::need_more);
    r.append("NE\n\n");
    CHECK(r.next(line) == DovecotLineReader::Status::line);
    CHECK(line == "DONE");
    CHECK(r.next(line) == DovecotLineReader::Status::line);
    CHECK(line.empty());

    DovecotLineReader exact;
    exact.append(std::string(dovecot_max_line, 'a') + "\n");
    CHECK(exact.next(line) == DovecotLineReader::Status::line);
    CHECK(line.size() == dovecot_max_line);

    DovecotLineReader over;
    over.append(std::string(dovecot_max_line + 1, 'a'));
    CHECK(over.next(line) == DovecotLineReader::Status::too_long);
    DovecotLineReader over_with_lf;
    over_with_lf.append(std::string(dovecot_max_line + 1, 'a') + "\n");
    CHECK(over_with_lf.next(line) == DovecotLineReader::Status::too_long);
}

TEST_CASE("fields split at TAB, \\001 escapes decode") {
    CHECK(fields("OK\t1\tuser=alice") == std::vector<std::string>{"OK", "1", "user=alice"});
    CHECK(fields("") == std::vector<std::string>{""});
    CHECK(fields("a\t\tb\t") == std::vector<std::string>{"a", "", "b", ""});
    CHECK(fields("user=a\001tb\001rc\001ld\0010e\0011f") ==
          std::vector<std::string>{std::string("user=a\tb\rc\nd\0e\001f", 16)});
    CHECK_FALSE(dovecot_fields("user=a\001"));        // an escape cut short
    CHECK_FALSE(dovecot_fields("user=a\001x"));       // not one of the five
    CHECK_FALSE(dovecot_fields("OK\t1\r"));           // raw CR
    CHECK_FALSE(dovecot_fields(std::string("a\0b", 3)));  // raw NUL
}

TEST_CASE("Dovecot 2.3's handshake") {
    DovecotHandshake h;
    CHECK(feed(h, dovecot_2_3) == Status::done);
    const auto& m = h.mechanisms();
    REQUIRE(m.size() == 4);
    CHECK(m[0].name == "PLAIN");
    CHECK(m[0].plaintext);
    CHECK(m[1].name == "LOGIN");
    CHECK(m[2].name == "CRAM-MD5");
    CHECK_FALSE(m[2].plaintext);
    CHECK(m[3].name == "SCRAM-SHA-256");
    for (const auto& x : m) CHECK(dovecot_offerable(x));
}

TEST_CASE("the documented order (SPID first) and unknown flags") {
    DovecotHandshake h;
    // The protocol document puts SPID, CUID and COOKIE before the MECH
    // lines; only a SPID with no MECH at all is the wrong socket.
    CHECK(feed(h, "VERSION\t1\t3\nMECH\tplain\tplaintext\tsomething-new\nMECH\tANONYMOUS\tanonymous\n"
                  "MECH\tDOVECOT-TOKEN\tprivate\nMECH\tSCRAM-SHA-256-PLUS\tmutual-auth\nDONE") == Status::done);
    const auto& m = h.mechanisms();
    REQUIRE(m.size() == 4);
    CHECK(m[0].name == "PLAIN");  // raised to upper case
    CHECK(dovecot_offerable(m[0]));
    CHECK_FALSE(dovecot_offerable(m[1]));  // anonymous
    CHECK_FALSE(dovecot_offerable(m[2]));  // private
    CHECK_FALSE(dovecot_offerable(m[3]));  // channel binding we cannot give
}

TEST_CASE("the wrong peer") {
    const auto wrong = [](std::string_view text, std::string_view why) {
        DovecotHandshake h;
        CHECK(feed(h, text) == Status::wrong_peer);
        CHECK(h.error().find(why) != std::string::npos);
        CHECK(h.feed({"DONE"}) == Status::wrong_peer);  // it stays wrong
    };
    wrong("220 mail.example ESMTP", "no VERSION line first");
    wrong("VERSION\t2\t0", "protocol version 2");
    wrong("VERSION\tx\t0", "no VERSION line first");
    wrong("VERSION\t1", "no VERSION line first");
    wrong("VERSION\t1\t1\nSPID\t12", "SPID before any MECH");  // auth-userdb, auth-master
    wrong("VERSION\t1\t2\nCUID\t1\nDONE", "DONE without any MECH");
    wrong("VERSION\t1\t2\nMECH", "MECH without a name");
    wrong("VERSION\t1\t2\nMECH\tPL AIN", "not a SASL mechanism");
    wrong("VERSION\t1\t2\nMECH\tABCDEFGHIJKLMNOPQRSTU", "not a SASL mechanism");  // 21
    wrong("VERSION\t1\t2\nMECH\tPLAIN\nSPID\t1\nMECH\tLOGIN", "MECH after SPID");
    wrong("VERSION\t1\t2\nHELLO", "unexpected handshake line");

    DovecotHandshake many;
    CHECK(many.feed({"VERSION", "1", "2"}) == Status::more);
    Status s = Status::more;
    for (int i = 0; i < 100 && s == Status::more; ++i) s = many.feed({"MECH", "M" + std::to_string(i)});
    CHECK(s == Status::wrong_peer);
    CHECK(many.mechanisms().size() == DovecotHandshake::max_mechanisms);

    DovecotHandshake endless;
    CHECK(endless.feed({"VERSION", "1", "2"}) == Status::more);
    CHECK(endless.feed({"MECH", "PLAIN"}) == Status::more);
    s = Status::more;
    for (std::size_t i = 0; i < 1000 && s == Status::more; ++i) s = endless.feed({"CUID", "1"});
    CHECK(s == Status::wrong_peer);
}

TEST_CASE("replies to AUTH") {
    std::string error;
    auto r = dovecot_reply(fields("OK\t7\tuser=alice"), 7, error);
    REQUIRE(r);
    CHECK(r->kind == DovecotReply::Kind::ok);
    CHECK(r->user == "alice");

    r = dovecot_reply(fields("OK\t7"), 7, error);
    REQUIRE(r);
    CHECK_FALSE(r->user);  // the caller treats it as a backend error

    r = dovecot_reply(fields("CONT\t7\tcj0xMjM="), 7, error);
    REQUIRE(r);
    CHECK(r->kind == DovecotReply::Kind::cont);
    CHECK(r->data == "cj0xMjM=");
    r = dovecot_reply(fields("CONT\t7\t"), 7, error);  // an empty challenge
    REQUIRE(r);
    CHECK(r->data.empty());

    r = dovecot_reply(fields("FAIL\t7\tuser=alice\treason=nope"), 7, error);
    REQUIRE(r);
    CHECK(r->kind == DovecotReply::Kind::fail);
    CHECK_FALSE(r->temporary);
    CHECK(dovecot_reply(fields("FAIL\t7\tcode=temp_fail"), 7, error)->temporary);
    CHECK(dovecot_reply(fields("FAIL\t7\ttemp"), 7, error)->temporary);  // v2.2
    CHECK_FALSE(dovecot_reply(fields("FAIL\t7\tcode=authz_fail"), 7, error)->temporary);

    // A user name with an escaped LF comes out decoded: the caller refuses it.
    r = dovecot_reply(fields("OK\t7\tuser=a\001lX-Forged: 1"), 7, error);
    REQUIRE(r);
    CHECK(r->user == "a\nX-Forged: 1");

    CHECK_FALSE(dovecot_reply(fields("OK\t8\tuser=alice"), 7, error));
    CHECK(error == "reply for another request");
    CHECK_FALSE(dovecot_reply(fields("OK"), 7, error));
    CHECK_FALSE(dovecot_reply(fields("CONT\t7"), 7, error));
    CHECK_FALSE(dovecot_reply(fields("CONT\t7\ta\tb"), 7, error));
    CHECK_FALSE(dovecot_reply(fields("MECH\t7"), 7, error));
    CHECK(error == "unexpected reply");
}

TEST_CASE("DOVECOT_AUTH: a socket path, or an address and a port") {
    auto a = parse_dovecot_address("/run/dovecot/auth-client");
    CHECK(a.path == "/run/dovecot/auth-client");
    CHECK(a.text() == "/run/dovecot/auth-client");
    a = parse_dovecot_address("192.0.2.7:12345");
    CHECK(a.path.empty());
    CHECK(a.host == "192.0.2.7");
    CHECK(a.port == 12345);
    CHECK(a.text() == "192.0.2.7:12345");
    a = parse_dovecot_address("[2001:db8::7]:1");
    CHECK(a.host == "2001:db8::7");
    CHECK(a.port == 1);
    CHECK(a.text() == "[2001:db8::7]:1");

    for (const std::string_view bad : {"", "auth-client", "mail.example:12345", "192.0.2.7", "192.0.2.7:",
                                       "192.0.2.7:0", "192.0.2.7:65536", "192.0.2.7:12x", "2001:db8::7:25",
                                       "[192.0.2.7]:25", "[2001:db8::7]"})
        CHECK_THROWS_AS(parse_dovecot_address(bad), std::invalid_argument);
    CHECK_THROWS_AS(parse_dovecot_address("/" + std::string(107, 'a')), std::invalid_argument);
    CHECK_NOTHROW(parse_dovecot_address("/" + std::string(106, 'a')));
}
