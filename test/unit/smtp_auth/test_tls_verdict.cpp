// The session's reading of the relay's verdict: the relay is unprivileged
// and parses what the client sends, so what it says is checked.
#include <doctest/doctest.h>

#include <unistd.h>

#include <string>

#include "tls_verdict.hpp"

using namespace smtp_auth;

namespace {

std::optional<TlsInfo> told(const std::string& text, bool close_it = true) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    REQUIRE(::write(p[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    if (close_it) ::close(p[1]);
    auto info = read_verdict(p[0], std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    ::close(p[0]);
    if (!close_it) ::close(p[1]);
    return info;
}

}  // namespace

TEST_CASE("a verdict names the protocol and the cipher") {
    const auto info = told("TLSv1.3 TLS_AES_256_GCM_SHA384");
    REQUIRE(info);
    CHECK(info->protocol == "TLSv1.3");
    CHECK(info->cipher == "TLS_AES_256_GCM_SHA384");
    CHECK(told("TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256")->cipher == "ECDHE-RSA-AES128-GCM-SHA256");
}

TEST_CASE("nothing, or anything but two OpenSSL names, is a failed handshake") {
    CHECK_FALSE(told(""));
    CHECK_FALSE(told("TLSv1.3"));
    CHECK_FALSE(told("TLSv1.3 "));
    CHECK_FALSE(told(" TLS_AES_256_GCM_SHA384"));
    CHECK_FALSE(told("TLSv1.3 TLS_AES 256"));
    CHECK_FALSE(told("TLSv1.3 TLS_AES\n"));
    CHECK_FALSE(told("TLSv1.3 X\r\nSSL_CIPHER=forged"));
    CHECK_FALSE(told(std::string("TLSv1.3 A\0B", 11)));
    CHECK_FALSE(told("TLSv1.3 " + std::string(300, 'A')));  // bounded
}

TEST_CASE("a relay that says nothing and does not close is waited for until the deadline only") {
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(told("TLSv1.3 TLS_AES_256_GCM_SHA384", false));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}
