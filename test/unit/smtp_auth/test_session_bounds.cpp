// The root phase's bounds and manners: a command count and a deadline
// before the login, AUTH only after EHLO, and no AUTH line left in the
// reader's buffer, whichever way its exchange ends.
#include <doctest/doctest.h>

#include <deque>
#include <string>

#include "base64.hpp"
#include "scripted_client.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtp_auth;
using namespace smtp_auth::test;

namespace {

// The scripted client, and at each reply a look through the whole of the
// reader's buffer (which is reserved up front and never moves) for `secret`.
struct WatchingClient {
    ScriptedClient client;
    bool secret_seen_at_noop = false;
    int noops = 0;

    WatchingClient(std::deque<std::string> chunks, std::string secret) : client(std::move(chunks)) {
        client.on_write = [this, secret = std::move(secret)](std::string_view data) {
            if (client.first_buffer && data.starts_with("250 2.0.0 Ok")) {  // the NOOP behind the AUTH exchange
                const std::string_view whole(client.first_buffer, Session::max_auth_line + LineReader::block_size);
                secret_seen_at_noop = whole.find(secret) != std::string_view::npos;
                ++noops;
            }
        };
    }
};

class RefusingVerifier final : public Verifier {
public:
    asio::awaitable<Verdict> verify(const Credentials&) override { co_return Verdict{Verdict::Kind::rejected, "no"}; }
};

Config test_config(std::string_view smtpauth = "") {
    Config c;
    c.host = "mx.example";
    c.greeting = "220 mx.example ESMTP\r\n";
    c.ehlo_lines = "250-mx.example\r\n";
    c.auth = parse_smtpauth(smtpauth);
    c.fail_delay = std::chrono::seconds(0);
    return c;
}

struct Ran {
    SessionEnd end;
    std::string replies;
};

Ran run(std::deque<std::string> chunks, const Config& config = test_config(), TlsStarter* tls = nullptr) {
    ScriptedClient client(std::move(chunks));
    RefusingVerifier verifier;
    auto end = run_to_end(Session(config, client, verifier, tls));
    return {std::move(end), client.written};
}

}  // namespace

TEST_CASE("no credential byte stays in the reader's buffer, whichever way AUTH ends") {
    const std::string secret = "S3cretMarker";
    const std::string secret64 = base64_encode(secret);
    struct Path {
        std::string name;
        std::string lines;  // sent in one piece: the NOOP is read without refilling the buffer
        Config config;
        bool with_tls;
    };
    const Path paths[] = {
        {"syntax error", "EHLO c\r\nAUTH PLAIN " + secret + " more\r\nNOOP\r\n", test_config(), false},
        {"unknown mechanism", "EHLO c\r\nAUTH X-" + secret + " " + secret + "\r\nNOOP\r\n", test_config(), false},
        {"initial response not allowed", "EHLO c\r\nAUTH CRAM-MD5 " + secret + "\r\nNOOP\r\n", test_config("+cram"),
         false},
        {"bad base64", "EHLO c\r\nAUTH PLAIN !" + secret + "\r\nNOOP\r\n", test_config(), false},
        {"malformed PLAIN", "EHLO c\r\nAUTH PLAIN " + secret64 + "\r\nNOOP\r\n", test_config(), false},
        {"cancelled LOGIN", "EHLO c\r\nAUTH LOGIN " + secret64 + "\r\n*\r\nNOOP\r\n", test_config(), false},
        {"bad base64 in the exchange", "EHLO c\r\nAUTH LOGIN\r\n" + secret + "!\r\nNOOP\r\n", test_config(), false},
        {"rejected", "EHLO c\r\nAUTH PLAIN " + base64_encode(std::string("\0alice\0", 7) + secret) + "\r\nNOOP\r\n",
         test_config(), false},
        {"before EHLO", "AUTH PLAIN " + secret + "\r\nNOOP\r\n", test_config(), false},
        {"encryption required", "EHLO c\r\nAUTH PLAIN " + secret + "\r\nNOOP\r\n", [] {
             Config c = test_config();
             c.tls.cert_file = "cert.pem";
             return c;
         }(), true},
        {"AUTH off", "EHLO c\r\nAUTH PLAIN " + secret + "\r\nNOOP\r\n", [] {
             Config c = test_config("-");
             c.tls.cert_file = "cert.pem";
             return c;
         }(), true},
    };
    for (const auto& path : paths) {
        CAPTURE(path.name);
        WatchingClient watching({path.lines}, path.lines.find(secret64) != std::string::npos ? secret64 : secret);
        RefusingVerifier verifier;
        FakeTls tls;
        run_to_end(Session(path.config, watching.client, verifier, path.with_tls ? &tls : nullptr));
        CHECK(watching.noops == 1);
        CHECK_FALSE(watching.secret_seen_at_noop);
    }
}

TEST_CASE("AUTH before EHLO or HELO, and after STARTTLS without a new EHLO: 503") {
    auto r = run({"AUTH PLAIN =\r\nQUIT\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n503 5.5.1 EHLO first\r\n221 2.0.0 mx.example\r\n");
    r = run({"HELO c\r\nAUTH LOGIN\r\n*\r\nQUIT\r\n"});
    CHECK(r.replies.find("334 VXNlcm5hbWU6\r\n501 5.0.0 ") != std::string::npos);

    Config with_tls = test_config();
    with_tls.tls.cert_file = "cert.pem";
    FakeTls tls;
    r = run({"EHLO c\r\nSTARTTLS\r\n", "AUTH LOGIN\r\nEHLO c\r\nAUTH LOGIN\r\n*\r\nQUIT\r\n"}, with_tls, &tls);
    CHECK(r.replies.find("220 2.0.0 Ready to start TLS\r\n503 5.5.1 EHLO first\r\n250-mx.example\r\n") !=
          std::string::npos);
    CHECK(r.replies.find("334 VXNlcm5hbWU6\r\n501 5.0.0 ") != std::string::npos);
}

TEST_CASE("LOGIN_COMMANDS: the commands answered before the login are counted, then 421") {
    Config c = test_config();
    c.max_login_commands = 3;
    auto r = run({"NOOP\r\nRSET\r\nEHLO c\r\nNOOP\r\nNOOP\r\n"}, c);
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies.ends_with("250-mx.example\r\n250 AUTH LOGIN PLAIN\r\n"
                              "421 4.7.0 Too many commands without logging in, closing connection\r\n"));
    // Failed AUTH exchanges and over-long lines count too.
    r = run({"EHLO c\r\nAUTH X\r\nNOOP " + std::string(600, 'x') + "\r\nAUTH LOGIN\r\n*\r\n"}, c);
    CHECK(r.replies.ends_with("504 5.5.4 Unrecognized authentication mechanism\r\n500 5.5.6 Line too long\r\n"
                              "421 4.7.0 Too many commands without logging in, closing connection\r\n"));
    // What the backend answers is not counted: a handoff is a handoff.
    r = run({"NOOP\r\nNOOP\r\nNOOP\r\nMAIL FROM:<>\r\n"}, c);
    CHECK(r.end.kind == SessionEnd::Kind::handoff);
    // With AUTH required, the 530s are ours.
    c.auth.required = true;
    r = run({"MAIL FROM:<>\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\n"}, c);
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies.ends_with("530 5.7.0 Authentication required\r\n421 4.7.0 "
                              "Too many commands without logging in, closing connection\r\n"));
}

TEST_CASE("LOGIN_TIMEOUT: past the deadline the next read is a 421, however busy the client is") {
    Config c = test_config();
    c.login_timeout = std::chrono::seconds(0);
    const auto r = run({"NOOP\r\nNOOP\r\n"}, c);
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK(r.replies == "220 mx.example ESMTP\r\n421 4.4.2 Too long without logging in, closing connection\r\n");
}
