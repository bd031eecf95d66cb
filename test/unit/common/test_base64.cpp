#include <doctest/doctest.h>

#include "base64.hpp"

using smtpauth::base64_decode;
using smtpauth::base64_encode;

TEST_CASE("base64 round trips RFC 4648 test vectors") {
    const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char* coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; ++i) {
        CHECK(base64_encode(plain[i]) == coded[i]);
        std::string out = "junk";
        CHECK(base64_decode(coded[i], out));
        CHECK(out == plain[i]);
    }
}

TEST_CASE("base64 decodes NUL bytes and 8-bit data") {
    std::string out;
    REQUIRE(base64_decode("AHRlc3QAdGVzdA==", out));  // "\0test\0test"
    CHECK(out == std::string("\0test\0test", 10));
    const std::string binary("\xff\x00\x80\x7f", 4);
    REQUIRE(base64_decode(base64_encode(binary), out));
    CHECK(out == binary);
}

TEST_CASE("base64 rejects anything that is not canonical") {
    std::string out = "previous";
    for (const char* bad : {"Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v\r\n", " Zm9v", "Zm9v YmFy",
                            "Zm-v", "Zm_v", "=Zm9", "Zg=a", "Zm9\x80", "*", "QY==", "YW==", "NNNNNNN="}) {
        CAPTURE(bad);
        CHECK_FALSE(base64_decode(bad, out));
        CHECK(out.empty());
    }
    CHECK_FALSE(base64_decode(std::string_view("Zm\0v", 4), out));
}
