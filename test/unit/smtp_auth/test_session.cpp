// The dialogue against a scripted client and a scripted verifier: the SMTP
// side of smtp_auth in isolation. The real programs meet in test/e2e.
#include <doctest/doctest.h>

#include <deque>

#include "base64.hpp"
#include "scripted_client.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtp_auth;
using namespace smtp_auth::test;

namespace {

class ScriptedVerifier final : public Verifier {
public:
    asio::awaitable<Verdict> verify(const Credentials& c) override {
        seen.push_back(c.user + ":" + std::string(c.secret.view()) + ":" + c.challenge);
        if (c.user == "temp") co_return Verdict{Verdict::Kind::temporary, "checker exit 111"};
        const bool ok = c.user == "alice" && c.secret.view() == "secret";
        co_return Verdict{ok ? Verdict::Kind::accepted : Verdict::Kind::rejected, ok ? "" : "checker exit 1"};
    }
    std::vector<std::string> seen;
};

Config test_config(std::string_view smtpauth = "") {
    Config c;
    c.host = "mx.example";
    c.greeting = "220 mx.example ESMTP\r\n";
    c.ehlo_lines = "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n";
    c.auth = parse_smtpauth(smtpauth);
    c.fail_delay = std::chrono::seconds(0);
    return c;
}

struct Run {
    SessionEnd end;
    std::string replies;
    std::string backend_input;  // handed-off bytes, then what the client socket still holds
    std::vector<std::string> checked;
};

Run run(std::deque<std::string> chunks, const Config& config = test_config(), bool timeout_at_end = false,
        TlsStarter* tls = nullptr) {
    ScriptedClient client(std::move(chunks));
    client.timeout_at_end = timeout_at_end;
    ScriptedVerifier verifier;
    auto end = run_to_end(Session(config, client, verifier, tls));
    const auto backend_input = end.handoff.pending + client.unread();
    return {std::move(end), client.written, backend_input, verifier.seen};
}

const std::string plain_alice = base64_encode(std::string("\0alice\0secret", 13));

}  // namespace

TEST_CASE("greeting, EHLO with the AUTH line, QUIT without a backend") {
    const auto r = run({"EHLO client\r\nQUIT\r\n"});
    CHECK(r.end.kind == SessionEnd::Kind::quit);
    CHECK(r.replies ==
          "220 mx.example ESMTP\r\n"
          "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n"
          "221 2.0.0 mx.example\r\n");
}

TEST_CASE("AUTH PLAIN with pipelined mail: the rest reaches the backend untouched") {
    const std::string rest = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nbare\nlf\r\n.\r\nQUIT\r\n";
    const auto r = run({"EHLO client\r\nAUTH PLAIN " + plain_alice + "\r\n" + rest});
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK(r.end.user == "alice");
    CHECK(r.end.handoff.answered == std::vector<std::string>{"EHLO client\r\n"});
    CHECK(r.end.handoff.pending == rest);
    CHECK(r.replies.ends_with("250 AUTH LOGIN PLAIN\r\n235 2.7.0 Authentication successful\r\n"));
    CHECK(r.checked == std::vector<std::string>{"alice:secret:"});
}

TEST_CASE("lines split across reads in every place are read whole") {
    const std::string session = "EHLO client\r\nAUTH PLAIN " + plain_alice + "\r\nMAIL FROM:<a@b>\r\n";
    for (std::size_t cut = 1; cut < session.size(); ++cut) {
        CAPTURE(cut);
        const auto r = run({session.substr(0, cut), session.substr(cut)});
        REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
        CHECK(r.end.user == "alice");
        CHECK(r.backend_input == "MAIL FROM:<a@b>\r\n");
    }
    // One byte at a time.
    std::deque<std::string> bytes;
    for (char c : session) bytes.emplace_back(1, c);
    const auto r = run(bytes);
    CHECK(r.end.user == "alice");
    CHECK(r.backend_input == "MAIL FROM:<a@b>\r\n");
}

TEST_CASE("an unanswered command hands off unauthenticated with every byte behind it") {
    const std::string rest = std::string("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\n\0\xff\r", 35);
    const auto r = run({"HELO client\n", "NOOP\r\nRSET\r\n" + rest, "more\r\n"});
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK_FALSE(r.end.user);
    CHECK(r.end.handoff.answered == std::vector<std::string>{"HELO client\n"});
    CHECK(r.end.handoff.pending == rest);
    CHECK(r.backend_input == rest + "more\r\n");
    CHECK(r.replies == "220 mx.example ESMTP\r\n250 mx.example\r\n250 2.0.0 Ok\r\n250 2.0.0 Flushed\r\n");
}

TEST_CASE("garbage is the backend's to answer") {
    const auto r = run({"XYZZY\r\n"});
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK(r.end.handoff.pending == "XYZZY\r\n");
    CHECK(r.end.handoff.answered.empty());
}

TEST_CASE("when authentication is required, mail commands get 530") {
    const auto r = run({"MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nQUIT\r\n"}, test_config("!"));
    CHECK(r.end.kind == SessionEnd::Kind::quit);
    CHECK(r.replies == "220 mx.example ESMTP\r\n530 5.7.0 Authentication required\r\n"
                       "530 5.7.0 Authentication required\r\n221 2.0.0 mx.example\r\n");
}

TEST_CASE("AUTH LOGIN with the exact prompts, and with an initial response") {
    auto r = run({"EHLO c\r\nAUTH LOGIN\r\n", base64_encode("alice") + "\r\n", base64_encode("secret") + "\r\n"});
    CHECK(r.end.user == "alice");
    CHECK(r.replies.find("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ") != std::string::npos);
    r = run({"EHLO c\r\nAUTH LOGIN " + base64_encode("alice") + "\r\n", base64_encode("secret") + "\r\n"});
    CHECK(r.end.user == "alice");
    CHECK(r.replies.find("334 VXNlcm5hbWU6") == std::string::npos);
}

TEST_CASE("AUTH PLAIN without an initial response gets '334 ' with its space") {
    const auto r = run({"EHLO c\r\nAUTH PLAIN\r\n", plain_alice + "\r\n"});
    CHECK(r.replies.find("\r\n334 \r\n235 2.7.0") != std::string::npos);
    CHECK(r.end.user == "alice");
}

TEST_CASE("CRAM-MD5 sends a base64 challenge and passes the digest and challenge on") {
    const auto r = run({"EHLO c\r\nAUTH CRAM-MD5\r\n", base64_encode("alice 0123456789abcdef0123456789abcdef") + "\r\nQUIT\r\n"},
                       test_config("+cram"));
    const auto start = r.replies.find("334 ") + 4;
    std::string challenge;
    REQUIRE(base64_decode(r.replies.substr(start, r.replies.find("\r\n", start) - start), challenge));
    CHECK(challenge.ends_with("@mx.example>"));
    REQUIRE(r.checked.size() == 1);
    CHECK(r.checked[0] == "alice:0123456789abcdef0123456789abcdef:" + challenge);
}

TEST_CASE("AUTH errors get the RFC 4954 replies") {
    // What follows the greeting and the EHLO reply.
    const auto code_after_greeting = [](const std::deque<std::string>& in, const Config& c = test_config()) {
        const auto r = run(in, c);
        const auto ehlo_end = r.replies.find("\r\n", r.replies.find("\r\n250 ") + 2);
        return r.replies.substr(ehlo_end + 2);
    };
    CHECK(code_after_greeting({"EHLO c\r\nAUTH\r\n"}).starts_with("501 5.5.2 "));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH GSSAPI\r\n"}).starts_with("504 5.5.4 "));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH CRAM-MD5\r\n"}).starts_with("504 5.5.4 "));  // not offered
    CHECK(code_after_greeting({"EHLO c\r\nAUTH CRAM-MD5 abcd\r\n"}, test_config("+cram")).starts_with("501 5.7.0 "));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH PLAIN !!!!\r\n"}).starts_with("501 5.5.2 "));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH PLAIN\r\n", "*\r\n"}) == "334 \r\n501 5.0.0 Authentication cancelled\r\n");
    CHECK(code_after_greeting({"EHLO c\r\nAUTH LOGIN\r\n", "*\r\n"}).ends_with("501 5.0.0 Authentication cancelled\r\n"));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH PLAIN\r\n", "Zm9v YmFy\r\n"}).ends_with("501 5.5.2 Invalid base64 data\r\n"));
    CHECK(code_after_greeting({"EHLO c\r\nAUTH PLAIN " + base64_encode("nonuls") + "\r\n"}).starts_with("501 5.5.2 "));
}

TEST_CASE("bad credentials: 535, the client may retry, then 421 after the last try") {
    const std::string wrong = base64_encode(std::string("\0alice\0wrong", 12));
    auto r = run({"EHLO c\r\nAUTH PLAIN " + wrong + "\r\nAUTH PLAIN " + plain_alice + "\r\n"});
    CHECK(r.replies.find("535 5.7.8 ") != std::string::npos);
    CHECK(r.end.user == "alice");

    r = run({"EHLO c\r\nAUTH PLAIN " + wrong + "\r\nAUTH PLAIN " + wrong + "\r\nAUTH PLAIN " + wrong + "\r\nAUTH PLAIN " +
             plain_alice + "\r\n"});
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies.ends_with("535 5.7.8 Authentication credentials invalid\r\n"
                              "421 4.7.0 Too many failed authentication attempts\r\n"));
    CHECK(r.checked.size() == 3);
}

TEST_CASE("empty user or password, foreign authzid and control characters never reach the checker") {
    for (const auto& message : {std::string("\0alice\0", 7), std::string("\0\0secret", 8),
                                std::string("bob\0alice\0secret", 16), std::string("\0al\r\nice\0secret", 15)}) {
        const auto r = run({"EHLO c\r\nAUTH PLAIN " + base64_encode(message) + "\r\nQUIT\r\n"});
        CHECK(r.checked.empty());
        CHECK(r.replies.find("535 5.7.8 ") != std::string::npos);
    }
    const auto r = run({"EHLO c\r\nAUTH PLAIN =\r\nQUIT\r\n"});  // "=" is an empty response: malformed for PLAIN
    CHECK(r.checked.empty());
    CHECK(r.replies.find("501 5.5.2 ") != std::string::npos);
}

TEST_CASE("a CRAM-MD5 digest is 32 hex digits and no more: no challenge rides behind it") {
    const std::string replayed("0123456789abcdef0123456789abcdef\0<1.2@mx.example>", 49);
    const auto r = run({"EHLO c\r\nAUTH CRAM-MD5\r\n", base64_encode("alice " + replayed) + "\r\nQUIT\r\n"},
                       test_config("+cram"));
    CHECK(r.checked.empty());
    CHECK(r.replies.find("501 5.5.2 ") != std::string::npos);
}

TEST_CASE("a temporary checker failure is 454 and does not count as a failed login") {
    const std::string temp = base64_encode(std::string("\0temp\0pw", 8));
    const auto r = run({"EHLO c\r\nAUTH PLAIN " + temp + "\r\nAUTH PLAIN " + temp + "\r\nAUTH PLAIN " + temp + "\r\nQUIT\r\n"});
    CHECK(r.end.kind == SessionEnd::Kind::quit);
    CHECK(r.replies.find("454 4.7.0 ") != std::string::npos);
    CHECK(r.replies.find("421") == std::string::npos);
}

TEST_CASE("over-long lines get 500 5.5.6, memory stays bounded, the session goes on") {
    auto r = run({"NOOP " + std::string(600, 'x') + "\r\nQUIT\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n500 5.5.6 Line too long\r\n221 2.0.0 mx.example\r\n");
    std::deque<std::string> huge(64, std::string(16384, 'y'));  // 1 MiB without LF
    huge.push_back("\r\nQUIT\r\n");
    r = run(huge);
    CHECK(r.replies == "220 mx.example ESMTP\r\n500 5.5.6 Line too long\r\n221 2.0.0 mx.example\r\n");
    // An AUTH line may be longer than 512 octets (PLAIN with 255-octet fields).
    const std::string long_plain = base64_encode(std::string("\0alice\0", 7) + std::string(400, 'p'));
    r = run({"EHLO c\r\nAUTH PLAIN " + long_plain + "\r\nQUIT\r\n"});
    REQUIRE(r.checked.size() == 1);
    CHECK(r.replies.find("535 5.7.8") != std::string::npos);
}

TEST_CASE("EOF and timeout end the session") {
    auto r = run({"EHLO x\r\n"});
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.end.exit_code == 0);
    r = run({"EHLO x\r\n"}, test_config(), true);
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies.ends_with("421 4.4.2 Timeout, closing connection\r\n"));
    r = run({"EHLO c\r\nAUTH LOGIN\r\n"}, test_config(), true);
    CHECK(r.replies.ends_with("334 VXNlcm5hbWU6\r\n421 4.4.2 Timeout, closing connection\r\n"));
}

TEST_CASE("only the last EHLO/HELO lines are kept for the replay, within the bound") {
    std::string many;
    for (int i = 0; i < 40; ++i) many += "EHLO c" + std::to_string(i) + "\r\n";
    const auto r = run({many + "MAIL FROM:<>\r\n"});
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK(r.end.handoff.answered.size() == handoff_max_lines);
    CHECK(r.end.handoff.answered.back() == "EHLO c39\r\n");
    CHECK_NOTHROW(encode_handoff(r.end.handoff));
}

namespace {
Config tls_config(std::string_view smtpauth = "") {
    Config c = test_config(smtpauth);
    c.tls.cert_file = "cert.pem";
    return c;
}
}  // namespace

TEST_CASE("with a certificate, AUTH waits for STARTTLS") {
    FakeTls tls;
    const auto r = run({"EHLO c\r\nAUTH PLAIN " + plain_alice + "\r\nQUIT\r\n"}, tls_config(), false, &tls);
    CHECK(r.replies == "220 mx.example ESMTP\r\n"
                       "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
                       "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
                       "221 2.0.0 mx.example\r\n");
    CHECK(r.checked.empty());
    CHECK(tls.handshakes == 0);
}

TEST_CASE("STARTTLS: 220, then a fresh start where AUTH is offered and STARTTLS is not") {
    FakeTls tls;
    const auto r = run({"EHLO before\r\nSTARTTLS\r\n", "EHLO after\r\nSTARTTLS\r\nAUTH PLAIN " + plain_alice +
                                                                "\r\nMAIL FROM:<a@b>\r\n"},
                       tls_config(), false, &tls);
    CHECK(tls.handshakes == 1);
    CHECK(r.replies == "220 mx.example ESMTP\r\n"
                       "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
                       "220 2.0.0 Ready to start TLS\r\n"
                       "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n"
                       "503 5.5.1 TLS already active\r\n"
                       "235 2.7.0 Authentication successful\r\n");
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    REQUIRE(r.end.tls);
    CHECK(r.end.tls->protocol == "TLSv1.3");
    // What the client said before TLS is forgotten (RFC 3207 4.2).
    CHECK(r.end.handoff.answered == std::vector<std::string>{"EHLO after\r\n"});
    CHECK(r.backend_input == "MAIL FROM:<a@b>\r\n");
}

TEST_CASE("bytes pipelined behind STARTTLS are discarded, never executed (CVE-2011-0411)") {
    FakeTls tls;
    const auto r = run({"EHLO c\r\nSTARTTLS\r\nAUTH PLAIN " + plain_alice + "\r\nMAIL FROM:<evil@x>\r\n",
                        "QUIT\r\n"},
                       tls_config(), false, &tls);
    CHECK(r.checked.empty());
    CHECK(r.end.kind == SessionEnd::Kind::quit);
    CHECK(r.replies.ends_with("220 2.0.0 Ready to start TLS\r\n221 2.0.0 mx.example\r\n"));
}

TEST_CASE("STARTTLS errors: arguments, an unusable certificate, a failed handshake") {
    FakeTls tls;
    auto r = run({"STARTTLS now\r\nQUIT\r\n"}, tls_config(), false, &tls);
    CHECK(r.replies.find("501 5.5.4 ") != std::string::npos);
    tls.usable = false;
    r = run({"STARTTLS\r\nQUIT\r\n"}, tls_config(), false, &tls);
    CHECK(r.replies.find("454 4.7.0 TLS not available") != std::string::npos);
    CHECK(r.end.kind == SessionEnd::Kind::quit);
    tls.usable = true;
    tls.handshake_ok = false;
    r = run({"STARTTLS\r\n", "QUIT\r\n"}, tls_config(), false, &tls);
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies.ends_with("220 2.0.0 Ready to start TLS\r\n"));
}

TEST_CASE("required authentication with TLS configured: first STARTTLS, then AUTH") {
    FakeTls tls;
    const auto r = run({"MAIL FROM:<a@b>\r\nSTARTTLS\r\n", "MAIL FROM:<a@b>\r\nQUIT\r\n"}, tls_config("!"), false,
                       &tls);
    CHECK(r.replies == "220 mx.example ESMTP\r\n530 5.7.0 Must issue a STARTTLS command first\r\n"
                       "220 2.0.0 Ready to start TLS\r\n530 5.7.0 Authentication required\r\n"
                       "221 2.0.0 mx.example\r\n");
}

TEST_CASE("implicit TLS: the handshake comes before the greeting") {
    FakeTls tls;
    Config c = tls_config();
    c.tls.implicit = true;
    const auto r = run({"EHLO c\r\nAUTH PLAIN " + plain_alice + "\r\n"}, c, false, &tls);
    CHECK(tls.handshakes == 1);
    CHECK(r.replies.find("STARTTLS") == std::string::npos);
    CHECK(r.end.user == "alice");
    CHECK(r.end.tls);
}

TEST_CASE("AUTH_PLAINTEXT lets AUTH through before TLS, and STARTTLS is still offered") {
    FakeTls tls;
    Config c = tls_config();
    c.tls.allow_plaintext_auth = true;
    const auto r = run({"EHLO c\r\nAUTH PLAIN " + plain_alice + "\r\n"}, c, false, &tls);
    CHECK(r.replies.find("250-STARTTLS\r\n250 AUTH LOGIN PLAIN\r\n") != std::string::npos);
    CHECK(r.end.user == "alice");
    CHECK_FALSE(r.end.tls);
}

TEST_CASE("without a certificate STARTTLS is not ours: the backend answers it") {
    const auto r = run({"EHLO c\r\nSTARTTLS\r\n"});
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK(r.end.handoff.pending == "STARTTLS\r\n");
    CHECK(r.replies.find("STARTTLS") == std::string::npos);
}

TEST_CASE("SMTPAUTH=- with a certificate: STARTTLS only, and AUTH never reaches the backend") {
    FakeTls tls;
    const auto r = run({"EHLO c\r\nSTARTTLS\r\n", "EHLO c\r\nAUTH PLAIN " + plain_alice + "\r\nMAIL FROM:<>\r\n"},
                       tls_config("-"), false, &tls);
    CHECK(r.replies.ends_with("220 2.0.0 Ready to start TLS\r\n250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                              "502 5.5.1 AUTH not available\r\n"));
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK_FALSE(r.end.user);
    CHECK(r.checked.empty());
    CHECK(r.backend_input == "MAIL FROM:<>\r\n");
}
