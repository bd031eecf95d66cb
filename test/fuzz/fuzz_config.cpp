// The settings smtp_auth reads from the environment, which tcprules, envdir
// and the like may fill with anything: each parser either throws
// std::invalid_argument or returns a value that keeps its contract. Any
// other exception escapes and counts as a crash.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "config.hpp"

using namespace smtp_auth;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_control(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
}

// The value's lines as the contract reads them: split at LF, one CR before
// each LF dropped, a missing final line end added. Nothing when a line holds
// a control character, is over 512 octets with CRLF, or there are over 64.
std::optional<std::vector<std::string>> reference_lines(std::string_view value) {
    if (value.empty()) return std::nullopt;
    if (value.ends_with('\n')) value.remove_suffix(1);
    std::vector<std::string> lines;
    for (;;) {
        const auto lf = value.find('\n');
        std::string line(value.substr(0, lf));
        if (line.ends_with('\r')) line.pop_back();
        for (const char c : line)
            if (is_control(c)) return std::nullopt;
        if (line.size() + 2 > 512) return std::nullopt;
        lines.push_back(std::move(line));
        if (lines.size() > 64) return std::nullopt;
        if (lf == std::string_view::npos) break;
        value.remove_prefix(lf + 1);
    }
    return lines;
}

// A whole reply: CRLF lines, "CODE-" on all but the last, "CODE " on the
// last (or "CODE" alone when bare_last is allowed).
bool well_formed_reply(std::string_view reply, std::string_view code, bool bare_last) {
    if (reply.empty() || !reply.ends_with("\r\n")) return false;
    while (!reply.empty()) {
        const auto end = reply.find("\r\n");
        const auto line = reply.substr(0, end);
        reply.remove_prefix(end + 2);
        const bool last = reply.empty();
        if (!line.starts_with(code)) return false;
        for (const char c : line)
            if (is_control(c)) return false;
        if (line.size() == 3) {
            if (!(last && bare_last)) return false;
        } else if (line[3] != (last ? ' ' : '-')) {
            return false;
        }
    }
    return true;
}

// The reply with every line marked as continued.
std::string continued(std::string reply) {
    for (std::size_t at = 0; at < reply.size(); at = reply.find("\r\n", at) + 2) reply[at + 3] = '-';
    return reply;
}

std::string join_crlf(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\r\n";
    return out;
}

void fuzz_greeting(std::string_view value) {
    std::string greeting;
    try {
        greeting = parse_greeting(value);
    } catch (const std::invalid_argument&) {
        const auto lines = reference_lines(value);
        if (!lines) return;
        bool valid = true;
        for (std::size_t i = 0; i < lines->size(); ++i) {
            const auto& line = (*lines)[i];
            const bool last = i + 1 == lines->size();
            const bool ok = line.starts_with("220") &&
                            (line.size() == 3 ? last : line[3] == (last ? ' ' : '-'));
            valid = valid && ok;
        }
        FUZZ_CHECK(!valid);  // a good greeting must not be refused
        return;
    }
    FUZZ_CHECK(well_formed_reply(greeting, "220", true));
    const auto lines = reference_lines(value);
    FUZZ_CHECK(lines.has_value());
    FUZZ_CHECK(greeting == join_crlf(*lines));
}

void fuzz_ehloresp(std::string_view value) {
    std::string ehlo;
    try {
        ehlo = parse_ehloresp(value);
    } catch (const std::invalid_argument&) {
        const auto lines = reference_lines(value);
        if (!lines) return;
        bool valid = true;
        for (std::size_t i = 0; i < lines->size(); ++i) {
            const auto& line = (*lines)[i];
            const bool last = i + 1 == lines->size();
            valid = valid && line.starts_with("250") &&
                    (line.size() == 3 ? last : line[3] == '-' || (last && line[3] == ' '));
        }
        FUZZ_CHECK(!valid);
        return;
    }
    auto lines = reference_lines(value);
    FUZZ_CHECK(lines.has_value());
    auto& last = lines->back();
    if (last.size() == 3) last += '-';
    last[3] = '-';
    FUZZ_CHECK(ehlo == join_crlf(*lines));
    for (std::string_view rest = ehlo; !rest.empty();) {
        FUZZ_CHECK(rest.starts_with("250-"));
        rest.remove_prefix(rest.find("\r\n") + 2);
    }

    // Whatever is offered after them, the EHLO reply is one whole reply.
    Config config;
    config.ehlo_lines = ehlo;
    config.auth = parse_smtpauth("+cram");
    for (const bool starttls : {false, true}) {
        for (const bool auth : {false, true}) {
            const std::string reply = config.ehlo_reply(starttls, auth);
            FUZZ_CHECK(well_formed_reply(reply, "250", false));
            FUZZ_CHECK(continued(reply).starts_with(ehlo));
        }
    }
}

void fuzz_smtpauth(std::string_view value) {
    AuthPolicy p;
    try {
        p = parse_smtpauth(value);
    } catch (const std::invalid_argument&) {
        for (const char* good : {"", "+cram", "cram", "!", "!+cram", "!cram", "-"})
            FUZZ_CHECK(value != good);
        return;
    }
    std::string_view rest = value;
    if (value == "-") {
        FUZZ_CHECK(!p.enabled && p.mechanisms.empty());
        return;
    }
    FUZZ_CHECK(p.enabled);
    FUZZ_CHECK(p.required == rest.starts_with('!'));
    if (rest.starts_with('!')) rest.remove_prefix(1);
    using M = Mechanism;
    if (rest.empty()) {
        FUZZ_CHECK((p.mechanisms == std::vector<M>{M::login, M::plain}));
    } else if (rest == "+cram") {
        FUZZ_CHECK((p.mechanisms == std::vector<M>{M::login, M::plain, M::cram_md5}));
    } else {
        FUZZ_CHECK(rest == "cram");
        FUZZ_CHECK((p.mechanisms == std::vector<M>{M::cram_md5}));
    }
}

void fuzz_seconds(std::string_view value, long long max) {
    // The number as written: digits only (from_chars also takes "-0"),
    // nothing when it does not fit.
    std::optional<long long> expected;
    std::string_view digits = value;
    const bool negative = digits.starts_with('-');
    if (negative) digits.remove_prefix(1);
    bool all_digits = !digits.empty();
    for (const char c : digits) all_digits = all_digits && is_digit(c);
    if (all_digits) {
        while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
        if (digits.size() <= 18) {
            long long n = 0;
            for (const char c : digits) n = n * 10 + (c - '0');
            if ((!negative || n == 0) && n <= max) expected = n;
        }
    }
    try {
        const auto s = parse_seconds("X", value, std::chrono::seconds(max));
        FUZZ_CHECK(expected.has_value());
        FUZZ_CHECK(s.count() == *expected);
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(!expected.has_value());
    }
}

void fuzz_host(std::string_view value) {
    const std::string host = sanitize_host(value);
    FUZZ_CHECK(host.size() <= 255);
    std::size_t from = 0;
    for (const char c : host) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                             c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        FUZZ_CHECK(allowed);
        // What is left is the input with characters taken out, in order.
        from = value.find(c, from);
        FUZZ_CHECK(from != std::string_view::npos && from < 255);
        ++from;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider provider(data, size);
    const auto which = provider.ConsumeIntegralInRange<int>(0, 4);
    const auto max = provider.ConsumeIntegralInRange<long long>(0, 100000);
    const std::string value = provider.ConsumeRemainingBytesAsString();
    switch (which) {
    case 0: fuzz_greeting(value); break;
    case 1: fuzz_ehloresp(value); break;
    case 2: fuzz_smtpauth(value); break;
    case 3: fuzz_seconds(value, max); break;
    case 4: fuzz_host(value); break;
    }
    return 0;
}
