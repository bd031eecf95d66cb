// The whole smtp_auth dialogue against a hostile client. The input is what
// the client sends; octets taken from its end choose the settings (SMTPAUTH,
// STARTTLS or implicit TLS and how they fare, end of file or timeout, a
// write that fails) and how the client's bytes are cut into reads, so lines
// split at any place (a cut size of 255 floods the line instead). The
// verifier accepts alice/secret only ("temp" is a temporary failure) and
// runs no process.
//
// Layout, from the end: the settings octet (SMTPAUTH index in the low three
// bits: "", "+cram", "!", "!+cram", "cram", "!cram", "-", ""; 0x08 TLS, 0x10
// implicit TLS, 0x20 AUTH_PLAINTEXT, 0x40 certificate unusable, 0x80
// handshake fails), then the octet with 0x01 timeout at the end instead of
// end of file and, above it, 126 + 2k (k = 1..64) makes write k fail; then
// one cut size per read.
//
// Checked: every reply is whole CRLF lines "DDD-" ... "DDD "; the session
// ends, after a bounded number of replies; nothing is read or written after
// a write failed; no more than AUTH_TRIES 535s; only good credentials
// authenticate, never without TLS when TLS is required first, never with
// SMTPAUTH=-; with authentication required there is no unauthenticated
// handoff; what is handed off is within the bounds of lib/handoff.hpp,
// encodes, decodes to itself, and is exactly the tail of the client's bytes
// from a line start (or from where TLS started).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "command.hpp"
#include "handoff.hpp"
#include "log.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtp_auth;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One write: one whole reply.
void check_reply(std::string_view reply) {
    FUZZ_CHECK(reply.ends_with("\r\n"));
    const std::string_view code = reply.substr(0, 3);
    while (!reply.empty()) {
        const auto end = reply.find("\r\n");
        const auto line = reply.substr(0, end);
        reply.remove_prefix(end + 2);
        FUZZ_CHECK(line.size() >= 4);
        FUZZ_CHECK(is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]));
        FUZZ_CHECK(line.substr(0, 3) == code);
        FUZZ_CHECK(line[3] == (reply.empty() ? ' ' : '-'));
        FUZZ_CHECK(line.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
    }
}

class HostileClient final : public ClientChannel {
public:
    HostileClient(FuzzedDataProvider& input, bool timeout_at_end, std::size_t failing_write)
        : input_(input), timeout_at_end_(timeout_at_end), failing_write_(failing_write) {}

    asio::awaitable<long> read_some(char* data, std::size_t size, std::chrono::milliseconds) override {
        FUZZ_CHECK(!write_failed);  // a session whose client is gone stops
        FUZZ_CHECK(size > 0);
        if (input_.remaining_bytes() == 0) {
            FUZZ_CHECK(++reads_after_end < 4);  // an end is not ignored
            co_return timeout_at_end_ ? -2 : 0;
        }
        // A cut size of 0 means all that is left; 255 floods: one octet
        // repeated 4096 times, so over-long lines are cheap to make.
        std::size_t n = input_.ConsumeIntegral<std::uint8_t>();
        std::string chunk;
        if (n == 255 && flooded_ < max_flood) {
            const auto octet = input_.ConsumeBytesAsString(1);
            if (!octet.empty()) chunk.assign(std::min<std::size_t>(4096, size), octet[0]);
            flooded_ += chunk.size();
        } else {
            if (n == 0 || n > size) n = size;
            chunk = input_.ConsumeBytesAsString(n);
        }
        if (chunk.empty()) co_return timeout_at_end_ ? -2 : 0;
        std::copy(chunk.begin(), chunk.end(), data);
        given += chunk;
        co_return static_cast<long>(chunk.size());
    }

    asio::awaitable<bool> write_all(std::string_view data, std::chrono::milliseconds) override {
        FUZZ_CHECK(!write_failed);
        check_reply(data);
        replies.emplace_back(data);
        if (replies.size() == failing_write_) {
            write_failed = true;
            co_return false;
        }
        co_return true;
    }

    std::string given;                  // every byte handed to the session
    std::size_t tls_from = 0;           // given.size() when TLS started
    std::vector<std::string> replies;  // every write, the failed one too
    bool write_failed = false;
    int reads_after_end = 0;

private:
    static constexpr std::size_t max_flood = 5 * 4096;  // past the 12288-octet limit
    FuzzedDataProvider& input_;
    std::size_t flooded_ = 0;
    bool timeout_at_end_;
    std::size_t failing_write_;  // 1-based; 0 for none
};

class OneUser final : public Verifier {
public:
    asio::awaitable<Verdict> verify(const Credentials& c) override {
        ++calls;
        // The dialogue sends only names fit for the environment and a log,
        // and never an empty secret.
        FUZZ_CHECK(!c.user.empty() && !c.secret.empty());
        FUZZ_CHECK(std::none_of(c.user.begin(), c.user.end(), [](char ch) {
            const auto u = static_cast<unsigned char>(ch);
            return u < 0x20 || u == 0x7f;
        }));
        FUZZ_CHECK(c.challenge.empty() || (c.challenge.starts_with('<') && c.challenge.ends_with("@mx.example>")));
        if (c.user == "temp") co_return Verdict{Verdict::Kind::temporary, "checker exit 111"};
        const bool good = c.user == "alice" && c.secret.view() == "secret";
        co_return Verdict{good ? Verdict::Kind::accepted : Verdict::Kind::rejected, good ? "" : "checker exit 1"};
    }
    int calls = 0;
};

class FakeTls final : public TlsStarter {
public:
    FakeTls(HostileClient& client, bool usable, bool handshake_ok)
        : client_(client), usable_(usable), handshake_ok_(handshake_ok) {}
    bool prepare() override { return usable_; }
    // What the client sends from now on arrives encrypted.
    std::optional<TlsInfo> start() override {
        ++handshakes;
        client_.tls_from = client_.given.size();
        if (!handshake_ok_) return std::nullopt;
        return TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"};
    }
    int handshakes = 0;

private:
    HostileClient& client_;
    bool usable_;
    bool handshake_ok_;
};

Config make_config(std::uint8_t settings) {
    static constexpr const char* smtpauth[] = {"", "+cram", "!", "!+cram", "cram", "!cram", "-", ""};
    Config c;
    c.host = "mx.example";
    c.greeting = "220 mx.example ESMTP\r\n";
    c.ehlo_lines = "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n";
    c.auth = parse_smtpauth(smtpauth[settings & 7]);
    c.fail_delay = std::chrono::seconds(0);
    c.max_failures = 3;
    c.remote_ip = "192.0.2.1";
    // SMTPAUTH=- without a certificate execs the chain at once: no dialogue.
    if ((settings & 0x08) || !c.auth.enabled) {
        c.tls.cert_file = "cert.pem";
        c.tls.implicit = (settings & 0x10) != 0;
        c.tls.allow_plaintext_auth = (settings & 0x20) != 0;
    }
    return c;
}

void check_handoff(const SessionEnd& end, const HostileClient& client) {
    const Handoff& h = end.handoff;
    FUZZ_CHECK(h.answered.size() <= handoff_max_lines);
    FUZZ_CHECK(h.pending.size() <= handoff_max_pending);
    for (const auto& line : h.answered) {
        FUZZ_CHECK(line.ends_with('\n') && line.find('\n') == line.size() - 1);
        FUZZ_CHECK(line.size() <= handoff_max_line);
        const auto verb = parse_command(line).verb;
        FUZZ_CHECK(verb == "EHLO" || verb == "HELO");
        // Said after TLS started, when it did (RFC 3207 4.2).
        FUZZ_CHECK(client.given.find(line, end.tls ? client.tls_from : 0) != std::string::npos);
    }
    std::string encoded;
    try {
        encoded = encode_handoff(h);
    } catch (const std::exception&) {
        FUZZ_FAIL("encode_handoff threw on a session's handoff");
    }
    const auto back = decode_handoff(encoded);
    FUZZ_CHECK(back.has_value() && *back == h);

    // The backend gets the client's bytes from a line start (or from the
    // start of TLS, which forgets what came before) on, untouched.
    const std::string_view given = client.given;
    FUZZ_CHECK(given.ends_with(h.pending));
    const auto before = given.substr(0, given.size() - h.pending.size());
    FUZZ_CHECK(before.empty() || before.ends_with('\n') || (end.tls && before.size() == client.tls_from));
    if (end.tls) FUZZ_CHECK(before.size() >= client.tls_from);
    if (!end.user) {
        // Handed off at a command that is not smtp_auth's.
        FUZZ_CHECK(!h.pending.empty());
        const auto verb = parse_command(h.pending.substr(0, h.pending.find('\n') + 1)).verb;
        for (const char* ours : {"EHLO", "HELO", "NOOP", "RSET", "HELP", "QUIT", "AUTH"}) FUZZ_CHECK(verb != ours);
    }
}

// FUZZ_SESSION_SHOW=1 prints what each run said, to see what a seed does.
void show(const HostileClient& client, const SessionEnd& end) {
    std::string text = "client: " + escape_for_log(client.given, 4096) + "\nreplies:";
    for (const auto& r : client.replies) text += " " + escape_for_log(r, 200);
    static constexpr const char* kinds[] = {"quit", "closed", "handoff"};
    text += std::string("\nend: ") + kinds[static_cast<int>(end.kind)] + " exit " + std::to_string(end.exit_code) +
            " user " + end.user.value_or("-") + " tls " + (end.tls ? "yes" : "no") + " answered " +
            std::to_string(end.handoff.answered.size()) + " pending " + escape_for_log(end.handoff.pending, 200) + "\n";
    std::fputs(text.c_str(), stderr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider input(data, size);
    const auto settings = input.ConsumeIntegral<std::uint8_t>();
    const auto more = input.ConsumeIntegral<std::uint8_t>();
    const Config config = make_config(settings);
    const bool with_tls = config.tls.enabled();
    const bool tls_usable = (settings & 0x40) == 0;
    const bool handshake_ok = (settings & 0x80) == 0;
    const bool timeout_at_end = (more & 1) != 0;
    const std::size_t failing_write = more >> 1 < 64 ? 0 : (more >> 1) - 63;  // 1..64, or none

    HostileClient client(input, timeout_at_end, failing_write);
    OneUser verifier;
    FakeTls tls(client, tls_usable, handshake_ok);
    // The coroutine dialogue, on an io_context of its own per input.
    asio::io_context io(1);
    const SessionEnd end = Session(config, client, verifier, with_tls ? &tls : nullptr).run(io);

    if (std::getenv("FUZZ_SESSION_SHOW")) show(client, end);

    // Bounded: a reply per line at most, two for a final failed AUTH, plus
    // the greeting and a last word.
    const auto lines = static_cast<std::size_t>(std::count(client.given.begin(), client.given.end(), '\n'));
    FUZZ_CHECK(client.replies.size() <= 2 * lines + 3);

    if (with_tls && config.tls.implicit) {
        FUZZ_CHECK(tls.handshakes >= 1);
        if (!handshake_ok) FUZZ_CHECK(client.replies.empty());
    }
    if (!client.replies.empty() && !(with_tls && config.tls.implicit && !handshake_ok))
        FUZZ_CHECK(client.replies.front() == config.greeting);
    FUZZ_CHECK(tls.handshakes <= 1);

    const auto failures = std::count_if(client.replies.begin(), client.replies.end(),
                                        [](const std::string& r) { return r.starts_with("535 "); });
    FUZZ_CHECK(failures <= static_cast<long>(config.max_failures));

    switch (end.kind) {
    case SessionEnd::Kind::quit:
        FUZZ_CHECK(!client.replies.empty() && client.replies.back().starts_with("221 "));
        break;
    case SessionEnd::Kind::closed:
        FUZZ_CHECK(end.exit_code == 0 || end.exit_code == 1);
        if (end.exit_code == 0) FUZZ_CHECK(!timeout_at_end || client.write_failed);
        break;
    case SessionEnd::Kind::handoff:
        FUZZ_CHECK(!client.write_failed);
        if (end.user) {
            FUZZ_CHECK(*end.user == "alice");
            FUZZ_CHECK(config.auth.enabled);
            FUZZ_CHECK(client.replies.back().starts_with("235 "));
            FUZZ_CHECK(verifier.calls >= 1);
            if (with_tls && !config.tls.allow_plaintext_auth) FUZZ_CHECK(end.tls.has_value());
        } else {
            FUZZ_CHECK(!config.auth.required);
        }
        FUZZ_CHECK(end.tls.has_value() == (with_tls && tls.handshakes == 1));
        check_handoff(end, client);
        break;
    }
    return 0;
}
