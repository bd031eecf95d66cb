// The AUTH dialogue against a scripted Authenticator: what the session does
// with each answer a backend can give (Dovecot's relay is one such
// backend), and the local mechanisms as an Authenticator.
#include <doctest/doctest.h>

#include <deque>

#include "base64.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtp_auth;

namespace {

// Hands out one chunk per read, then EOF.
class Client final : public ClientChannel {
public:
    explicit Client(std::deque<std::string> chunks) : chunks_(std::move(chunks)) {}
    long read_some(char* data, std::size_t size, std::chrono::milliseconds) override {
        if (chunks_.empty()) return 0;
        auto& chunk = chunks_.front();
        const auto n = std::min(size, chunk.size());
        chunk.copy(data, n);
        chunk.erase(0, n);
        if (chunk.empty()) chunks_.pop_front();
        return static_cast<long>(n);
    }
    bool write_all(std::string_view data, std::chrono::milliseconds) override {
        written += data;
        return true;
    }
    std::string written;

private:
    std::deque<std::string> chunks_;
};

// A server-first exchange like SCRAM's: one challenge, then "ok", "no",
// "temp" or anything else (malformed) decides.
struct Script {
    std::vector<std::string> said;  // what the exchanges were given
    int cancels = 0;
    int releases = 0;
};

class Exchange final : public AuthExchange {
public:
    explicit Exchange(Script& s) : s_(s) {}
    AuthStep start(const std::optional<std::string_view>& initial) override {
        if (initial) return step(*initial);
        return {AuthStep::Kind::challenge, "say it"};
    }
    AuthStep step(std::string_view response) override {
        s_.said.emplace_back(response);
        if (response == "ok") return {AuthStep::Kind::accepted, "", "Dana"};
        if (response == "no") return {AuthStep::Kind::rejected, "", "dana", "backend: FAIL"};
        if (response == "temp") return {AuthStep::Kind::temporary, "", "", "backend: away"};
        return {AuthStep::Kind::malformed};
    }
    void cancel() override { ++s_.cancels; }

private:
    Script& s_;
};

// Offers SECRET (plaintext) and SAFE; "DOWN" is a backend it cannot reach.
class Backend final : public Authenticator {
public:
    explicit Backend(Script& s) : s_(s) {}
    std::vector<std::string> offered(bool plaintext_ok) override {
        if (plaintext_ok) return {"SECRET", "SAFE"};
        return {"SAFE"};
    }
    Begin begin(std::string_view mechanism, bool plaintext_ok, bool) override {
        if (mechanism == "DOWN") return {Begin::Kind::unavailable, nullptr, "backend away"};
        if (mechanism == "SECRET" && !plaintext_ok) return {Begin::Kind::needs_tls};
        if (mechanism != "SECRET" && mechanism != "SAFE") return {Begin::Kind::unknown};
        return {Begin::Kind::started, std::make_unique<Exchange>(s_)};
    }
    void release() override { ++s_.releases; }

private:
    Script& s_;
};

class Tls final : public TlsStarter {
public:
    bool prepare() override { return true; }
    std::optional<TlsInfo> start() override { return TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"}; }
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
    Client client(std::move(chunks));
    Backend backend(script);
    Tls tls;
    const Config c = config(with_tls);
    auto end = Session(c, client, backend, with_tls ? &tls : nullptr).run();
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
    Client client({"EHLO c\r\nMAIL FROM:<a@b>\r\nQUIT\r\n"});
    Backend backend(s);
    Tls tls;
    Config c = config(true);
    c.auth = parse_smtpauth("!");
    const auto end = Session(c, client, backend, &tls).run();
    CHECK(end.kind == SessionEnd::Kind::quit);
    CHECK(client.written.find("530 5.7.0 Authentication required\r\n") != std::string::npos);
}

TEST_CASE("the local mechanisms as an Authenticator") {
    Config c = config();
    c.auth = parse_smtpauth("+cram");
    struct Never final : Verifier {
        Verdict verify(const Credentials&) override { return {Verdict::Kind::rejected, "no"}; }
    } never;
    LocalAuthenticator local(c, never);
    CHECK(local.offered(true) == std::vector<std::string>{"LOGIN", "PLAIN", "CRAM-MD5"});
    CHECK(local.offered(false).empty());  // all of them wait for TLS
    CHECK(local.begin("PLAIN", false, false).kind == Authenticator::Begin::Kind::needs_tls);
    CHECK(local.begin("SCRAM-SHA-256", true, false).kind == Authenticator::Begin::Kind::unknown);
    auto begun = local.begin("PLAIN", true, false);
    REQUIRE(begun.kind == Authenticator::Begin::Kind::started);
    const auto step = begun.exchange->start(std::string_view("\0bob\0pw", 7));
    CHECK(step.kind == AuthStep::Kind::rejected);
    CHECK(step.user == "bob");
    CHECK(step.detail == "no");
    CHECK(local.begin("CRAM-MD5", true, false).exchange->accepts_initial_response() == false);
}
