#include <doctest/doctest.h>

#include <stdexcept>

#include "base64.hpp"
#include "handoff.hpp"
#include "secret.hpp"

using namespace smtpauth;

TEST_CASE("handoff round trips answered lines and raw pending bytes") {
    Handoff h;
    h.answered = {"EHLO client.example\r\n", "HELO bare-lf\n"};
    h.pending = std::string("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n\0\xff bare\rcr\n", 44);
    const auto text = encode_handoff(h);
    CHECK(text.starts_with("1:"));
    CHECK(text.find('\0') == std::string::npos);
    const auto back = decode_handoff(text);
    REQUIRE(back);
    CHECK(*back == h);
}

TEST_CASE("an empty handoff means greeting sent, nothing else") {
    const auto back = decode_handoff(encode_handoff(Handoff{}));
    REQUIRE(back);
    CHECK(back->answered.empty());
    CHECK(back->pending.empty());
}

TEST_CASE("handoff encoding enforces its bounds") {
    Handoff h;
    h.answered.assign(handoff_max_lines + 1, "EHLO x\r\n");
    CHECK_THROWS_AS(encode_handoff(h), std::length_error);
    h.answered = {std::string(handoff_max_line, 'a') + "\n"};
    CHECK_THROWS_AS(encode_handoff(h), std::length_error);
    h.answered = {"no newline"};
    CHECK_THROWS_AS(encode_handoff(h), std::length_error);
    h.answered.clear();
    h.pending.assign(handoff_max_pending + 1, 'x');
    CHECK_THROWS_AS(encode_handoff(h), std::length_error);
    h.pending.assign(handoff_max_pending, 'x');
    CHECK(decode_handoff(encode_handoff(h)) == h);
}

TEST_CASE("malformed handoff values are refused") {
    for (const char* bad : {"", "1", "1:", "2::", "1:RUhMTyB4:", "1:!!!!:", "1::@@@@", "x1::"}) {
        CAPTURE(bad);
        CHECK_FALSE(decode_handoff(bad));
    }
    CHECK(decode_handoff("1::"));
    // A line missing its LF at the end.
    CHECK_FALSE(decode_handoff("1:" + base64_encode("EHLO x\r\nEHLO y") + ":"));
    // Too many lines.
    std::string many;
    for (std::size_t i = 0; i <= handoff_max_lines; ++i) many += "EHLO x\n";
    CHECK_FALSE(decode_handoff("1:" + base64_encode(many) + ":"));
    // Pending bytes over the bound.
    CHECK_FALSE(decode_handoff("1::" + base64_encode(std::string(handoff_max_pending + 3, 'x'))));
}

TEST_CASE("constant-time comparison is an equality test") {
    CHECK(equal_constant_time("", ""));
    CHECK(equal_constant_time("secret", "secret"));
    CHECK_FALSE(equal_constant_time("secret", "secreT"));
    CHECK_FALSE(equal_constant_time("secret", "secret1"));
    CHECK_FALSE(equal_constant_time("a", ""));
    CHECK(equal_constant_time(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
    CHECK_FALSE(equal_constant_time(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    // The shorter input is compared as if zero-padded; the lengths still count.
    CHECK_FALSE(equal_constant_time("a", std::string_view("a\0", 2)));
    CHECK_FALSE(equal_constant_time(std::string_view("\0", 1), ""));
    // Across the 64-byte blocks it works in.
    const std::string long_secret(200, 's');
    std::string other = long_secret;
    CHECK(equal_constant_time(long_secret, other));
    for (std::size_t at : {0u, 63u, 64u, 127u, 128u, 199u}) {
        other = long_secret;
        other[at] = 'S';
        CHECK_FALSE(equal_constant_time(long_secret, other));
    }
    CHECK_FALSE(equal_constant_time(long_secret, long_secret + "s"));
    CHECK_FALSE(equal_constant_time(long_secret.substr(0, 64), long_secret.substr(0, 65)));
}

TEST_CASE("Secret wipes its buffer when cleared") {
    Secret s(64);
    s.str() = "hunter2";
    const char* data = s.str().data();
    s.clear();
    CHECK(s.empty());
    CHECK(std::string_view(data, 7) == std::string(7, '\0'));
}
