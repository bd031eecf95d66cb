// The AUTH dialogue against a scripted Authenticator: what the session does
// with each answer a backend can give (Dovecot's relay is one such
// backend), and the local mechanisms as an Authenticator.
#include <doctest/doctest.h>

#include <deque>

#include "base64.hpp"
#include "scripted_client.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtp_auth;
using namespace smtp_auth::test;

namespace {

// A server-first exchange like SCRAM's: one challenge, then "ok", "no",
// "temp", "root" (the right password for an account that gets no session)
// or anything else (malformed) decides.
struct Script {
    std::vector<std::string> said;  // what the exchanges were given
    int cancels = 0;
    int releases = 0;
};

class Exchange final : public AuthExchange {
public:
    explicit Exchange(Script& s) : s_(s) {}
    asio::awaitable<AuthStep> start(const std::optional<std::string_view>& initial) override {
        if (initial) co_return answer(*initial);
        co_return AuthStep{AuthStep::Kind::challenge, "say it"};
    }
    asio::awaitable<AuthStep> step(std::string_view response) override { co_return answer(response); }
    asio::awaitable<void> cancel() override {
        ++s_.cancels;
        co_return;
    }

private:
    AuthStep answer(std::string_view response) {
        s_.said.emplace_back(response);
        if (response == "ok") return {AuthStep::Kind::accepted, "", "Dana"};
        if (response == "no") return {AuthStep::Kind::rejected, "", "dana", "backend: FAIL"};
        if (response == "temp") return {AuthStep::Kind::temporary, "", "", "backend: away"};
        if (response == "root") return {AuthStep::Kind::forbidden, "", "root", "uid 0 never gets a session"};
        return {AuthStep::Kind::malformed};
    }

    Script& s_;
};

// Offers SECRET (plaintext) and SAFE; "DOWN" is a backend it cannot reach.
class Backend final : public Authenticator {
public:
    explicit Backend(Script& s) : s_(s) {}
    asio::awaitable<std::vector<std::string>> offered(bool plaintext_ok) override {
        if (plaintext_ok) co_return std::vector<std::string>{"SECRET", "SAFE"};
        co_return std::vector<std::string>{"SAFE"};
    }
    asio::awaitable<Begin> begin(std::string_view mechanism, bool plaintext_ok, bool) override {
        if (mechanism == "DOWN") co_return Begin{Begin::Kind::unavailable, nullptr, "backend away"};
        if (mechanism == "SECRET" && !plaintext_ok) co_return Begin{Begin::Kind::needs_tls};
        if (mechanism != "SECRET" && mechanism != "SAFE") co_return Begin{Begin::Kind::unknown};
        co_return Begin{Begin::Kind::started, std::make_unique<Exchange>(s_)};
    }
    void release() override { ++s_.releases; }

private:
    Script& s_;
};

Config config(bool with_tls = false) {
    Config c;
    c.host = "mx.example";
    c.greeting = "220 mx.example ESMTP\r\n";
    c.ehlo_lines = "250-mx.example\r\n";
    c.auth = parse_smtpauth("");
    c.fail_delay = std::chrono::seconds(0);
    c.max_failures = 2;
    if (with_tls) c.tls.cert_file = "cert.pem";
    return c;
}

struct Outcome {
    SessionEnd end;
    std::string replies;
};

Outcome run(Script& script, std::deque<std::string> chunks, bool with_tls = false) {
    ScriptedClient client(std::move(chunks));
    Backend backend(script);
    FakeTls tls;
    const Config c = config(with_tls);
    auto end = run_to_end(Session(c, client, backend, with_tls ? &tls : nullptr));
    return {std::move(end), client.written};
}

std::string b64(std::string_view s) { return base64_encode(s); }

}  // namespace

TEST_CASE("EHLO lists the backend's mechanisms; a challenge goes out as 334 and back") {
    Script s;
    const auto r = run(s, {"EHLO c\r\nAUTH SAFE\r\n" + b64("ok") + "\r\nMAIL FROM:<a@b>\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n250-mx.example\r\n250 AUTH SECRET SAFE\r\n334 " + b64("say it") +
                           "\r\n235 2.7.0 Authentication successful\r\n");
    REQUIRE(r.end.kind == SessionEnd::Kind::handoff);
    CHECK(r.end.user == "Dana");  // the backend's name, not the one typed
    CHECK(r.end.handoff.pending == "MAIL FROM:<a@b>\r\n");
    CHECK(s.said == std::vector<std::string>{"ok"});
}

TEST_CASE("each verdict gets its reply; rejections count towards AUTH_TRIES, the others do not") {
    Script s;
    const auto r = run(s, {"EHLO c\r\nAUTH SECRET " + b64("temp") + "\r\nAUTH SECRET " + b64("x") + "\r\nAUTH DOWN\r\n" +
                           "AUTH NONE\r\nAUTH SECRET " + b64("no") + "\r\nAUTH SECRET " + b64("no") + "\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n250-mx.example\r\n250 AUTH SECRET SAFE\r\n"
                       "454 4.7.0 Temporary authentication failure\r\n"
                       "501 5.5.2 Malformed authentication data\r\n"
                       "454 4.7.0 Temporary authentication failure\r\n"
                       "504 5.5.4 Unrecognized authentication mechanism\r\n"
                       "535 5.7.8 Authentication credentials invalid\r\n"
                       "535 5.7.8 Authentication credentials invalid\r\n"
                       "421 4.7.0 Too many failed authentication attempts\r\n");
    CHECK(r.end.kind == SessionEnd::Kind::closed);
}

TEST_CASE("an account refused a session is answered as a wrong password, counted, and the session goes on") {
    // No password oracle: the right password for root must not get another
    // reply than a wrong one.
    Script s;
    const auto r = run(s, {"EHLO c\r\nAUTH SECRET " + b64("root") + "\r\nNOOP\r\nAUTH SAFE\r\n" + b64("no") + "\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n250-mx.example\r\n250 AUTH SECRET SAFE\r\n"
                       "535 5.7.8 Authentication credentials invalid\r\n"
                       "250 2.0.0 Ok\r\n"
                       "334 " + b64("say it") + "\r\n"
                       "535 5.7.8 Authentication credentials invalid\r\n"
                       "421 4.7.0 Too many failed authentication attempts\r\n");
    CHECK(r.end.kind == SessionEnd::Kind::closed);
    CHECK_FALSE(r.end.user.has_value());
}

TEST_CASE("an account refused a session waits AUTH_DELAY like any failure") {
    Script s;
    ScriptedClient client({"EHLO c\r\nAUTH SECRET " + b64("root") + "\r\nQUIT\r\n"});
    Backend backend(s);
    Config c = config();
    c.fail_delay = std::chrono::seconds(1);
    const auto started = std::chrono::steady_clock::now();
    const auto end = run_to_end(Session(c, client, backend));
    CHECK(std::chrono::steady_clock::now() - started >= c.fail_delay);
    CHECK(end.kind == SessionEnd::Kind::quit);
    CHECK(client.written.find("535 5.7.8 Authentication credentials invalid\r\n221 ") != std::string::npos);
}

TEST_CASE("\"*\" and bad base64 cancel the backend's exchange") {
    Script s;
    const auto r = run(s, {"EHLO c\r\nAUTH SAFE\r\n*\r\nAUTH SAFE\r\n!!\r\nQUIT\r\n"});
    CHECK(r.replies == "220 mx.example ESMTP\r\n250-mx.example\r\n250 AUTH SECRET SAFE\r\n334 " + b64("say it") + "\r\n501 5.0.0 Authentication cancelled\r\n" +
                           "334 " + b64("say it") + "\r\n501 5.5.2 Invalid base64 data\r\n221 2.0.0 mx.example\r\n");
    CHECK(s.cancels == 2);
    CHECK(s.said.empty());
}

TEST_CASE("with TLS configured a plaintext mechanism waits for it, another does not") {
    Script s;
    const auto r = run(s, {"EHLO c\r\nAUTH SECRET " + b64("ok") + "\r\nSTARTTLS\r\n",
                           "EHLO c\r\nAUTH SECRET " + b64("ok") + "\r\n"}, true);
    CHECK(r.replies == "220 mx.example ESMTP\r\n250-mx.example\r\n250-STARTTLS\r\n250 AUTH SAFE\r\n"
                       "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
                       "220 2.0.0 Ready to start TLS\r\n"
                       "250-mx.example\r\n250 AUTH SECRET SAFE\r\n235 2.7.0 Authentication successful\r\n");
    CHECK(s.releases == 1);  // the backend let go before the split
    CHECK(r.end.tls.has_value());
}

TEST_CASE("AUTH required: a usable non-plaintext mechanism means \"Authentication required\"") {
    Script s;
    ScriptedClient client({"EHLO c\r\nMAIL FROM:<a@b>\r\nQUIT\r\n"});
    Backend backend(s);
    FakeTls tls;
    Config c = config(true);
    c.auth = parse_smtpauth("!");
    const auto end = run_to_end(Session(c, client, backend, &tls));
    CHECK(end.kind == SessionEnd::Kind::quit);
    CHECK(client.written.find("530 5.7.0 Authentication required\r\n") != std::string::npos);
}

TEST_CASE("the local mechanisms as an Authenticator") {
    Config c = config();
    c.auth = parse_smtpauth("+cram");
    struct Never final : Verifier {
        asio::awaitable<Verdict> verify(const Credentials&) override { co_return Verdict{Verdict::Kind::rejected, "no"}; }
    } never;
    LocalAuthenticator local(c, never);
    CHECK(run_to_end(local.offered(true)) == std::vector<std::string>{"LOGIN", "PLAIN", "CRAM-MD5"});
    CHECK(run_to_end(local.offered(false)).empty());  // all of them wait for TLS
    CHECK(run_to_end(local.begin("PLAIN", false, false)).kind == Authenticator::Begin::Kind::needs_tls);
    CHECK(run_to_end(local.begin("SCRAM-SHA-256", true, false)).kind == Authenticator::Begin::Kind::unknown);
    auto begun = run_to_end(local.begin("PLAIN", true, false));
    REQUIRE(begun.kind == Authenticator::Begin::Kind::started);
    const auto step = run_to_end(begun.exchange->start(std::string_view("\0bob\0pw", 7)));
    CHECK(step.kind == AuthStep::Kind::rejected);
    CHECK(step.user == "bob");
    CHECK(step.detail == "no");
    CHECK(run_to_end(local.begin("CRAM-MD5", true, false)).exchange->accepts_initial_response() == false);
}
