// The PROXY protocol header, v1 and v2 [haproxy doc/proxy-protocol.txt],
// parsed as the reader feeds it: octet by octet as the parser asks.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "client_address.hpp"
#include "proxy_header.hpp"

using namespace smtp_auth;
using Status = ProxyHeader::Status;

namespace {

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string octets(std::initializer_list<int> bytes) {
    std::string s;
    for (const int b : bytes) s += static_cast<char>(b);
    return s;
}

std::string v2(int version_command, int family, const std::string& block) {
    return v2_signature + octets({version_command, family, static_cast<int>(block.size() >> 8),
                                  static_cast<int>(block.size() & 0xff)}) + block;
}

// TCP over IPv4: 192.0.2.7:40000 -> 198.51.100.1:587
const std::string ipv4_block = octets({192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0x40, 0x02, 0x4b});
// TCP over IPv6: 2001:db8::7:40000 -> 2001:db8::1:465
const std::string ipv6_block =
    octets({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x9c, 0x40, 0x01, 0xd1});

// Feeds `input` to the parser as the reader does: exactly the octets it
// asks for. Returns the result and how many octets it took.
std::pair<ProxyHeader, std::size_t> feed(const std::string& input) {
    std::size_t taken = 0;
    for (;;) {
        auto h = parse_proxy_header(std::string_view(input).substr(0, taken));
        if (h.status != Status::incomplete) return {h, taken};
        REQUIRE(h.more > 0);
        if (taken + h.more > input.size()) return {h, taken};  // would wait for more
        taken += h.more;
    }
}

ProxyHeader complete_header(const std::string& header, const std::string& after = "EHLO client\r\n") {
    const auto [h, taken] = feed(header + after);
    CHECK(h.status == Status::complete);
    CHECK(taken == header.size());  // not one octet of the client's own
    return h;
}

std::string refused(const std::string& input) {
    const auto [h, taken] = feed(input);
    CHECK(h.status == Status::malformed);
    CHECK(taken <= input.size());
    return std::string(h.error);
}

ConnectionAddresses addresses(std::string remote, std::uint16_t rport, std::string local, std::uint16_t lport) {
    return {Endpoint{std::move(remote), rport}, Endpoint{std::move(local), lport}};
}

}  // namespace

TEST_CASE("v1 TCP4, TCP6 and UNKNOWN") {
    CHECK(complete_header("PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\r\n").addresses ==
          addresses("192.0.2.7", 40000, "198.51.100.1", 587));
    CHECK(complete_header("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n").addresses ==
          addresses("255.255.255.255", 65535, "255.255.255.255", 65535));
    CHECK(complete_header("PROXY TCP4 0.0.0.0 10.0.0.1 0 1\r\n").addresses ==
          addresses("0.0.0.0", 0, "10.0.0.1", 1));
    CHECK(complete_header("PROXY TCP6 2001:DB8::7 2001:db8:0:0:0:0:0:1 40000 465\r\n").addresses ==
          addresses("2001:db8::7", 40000, "2001:db8::1", 465));
    // An IPv4 client of an IPv6 balancer is shown as IPv4.
    CHECK(complete_header("PROXY TCP6 ::ffff:192.0.2.7 ::ffff:198.51.100.1 1 2\r\n").addresses ==
          addresses("192.0.2.7", 1, "198.51.100.1", 2));
    // UNKNOWN: the socket's addresses stand; the rest of the line is ignored.
    CHECK_FALSE(complete_header("PROXY UNKNOWN\r\n").addresses);
    CHECK_FALSE(complete_header("PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n").addresses);
    const std::string longest = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
    REQUIRE(longest.size() == 107);
    CHECK_FALSE(complete_header(longest).addresses);
    // The header alone, then EOF: complete, with nothing after it.
    CHECK(complete_header("PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\r\n", "").addresses);
}

TEST_CASE("v1, malformed") {
    for (const std::string& bad : std::vector<std::string>{
             "EHLO client\r\n", "proxy TCP4 192.0.2.7 198.51.100.1 40000 587\r\n", "PROXY\r\n", "PROXY  TCP4\r\n",
             "PROXYTCP4 192.0.2.7 198.51.100.1 40000 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\n",       // LF alone
             "PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\r\r\n",   // a CR on its own
             "PROXY TCP4 192.0.2.7\r198.51.100.1 40000 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 40000 587 \r\n",    // a space too many
             "PROXY TCP4  192.0.2.7 198.51.100.1 40000 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 40000 587 25\r\n",
             "PROXY TCP4 192.0.2.07 198.51.100.1 40000 587\r\n",    // leading zero
             "PROXY TCP4 192.0.2.256 198.51.100.1 40000 587\r\n",
             "PROXY TCP4 192.0.2 198.51.100.1 40000 587\r\n",
             "PROXY TCP4 2001:db8::7 198.51.100.1 40000 587\r\n",   // family does not match
             "PROXY TCP6 192.0.2.7 2001:db8::1 40000 587\r\n",
             "PROXY TCP6 2001:db8::7 2001:db8::1:: 40000 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 040000 587\r\n",    // leading zero
             "PROXY TCP4 192.0.2.7 198.51.100.1 65536 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 -1 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 +1 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1 1a 587\r\n",
             "PROXY TCP4 192.0.2.7 198.51.100.1  587\r\n",
             "PROXY UDP4 192.0.2.7 198.51.100.1 40000 587\r\n",
             "PROXY tcp4 192.0.2.7 198.51.100.1 40000 587\r\n",
             "PROXY UNKNOWNX\r\n",
             "PROXY \r\n",
             "PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n",  // 108 octets
             "PROXY UNKNOWN " + std::string(5000, 'x'),
         }) {
        CAPTURE(bad);
        CHECK_FALSE(refused(bad).empty());
    }
    // Refused at the first octet that cannot belong to a header, not at the end of the line.
    CHECK(feed("EHLO client\r\n").second == 1);
    CHECK(feed("PROXZ TCP4").second == 5);
    CHECK(feed("PROXY TCP4 1\r2").second == 14);
    // An over-long line stops at 107 octets, whatever follows.
    CHECK(feed("PROXY UNKNOWN " + std::string(5000, 'x')).second == 107);
}

TEST_CASE("v2 TCP over IPv4 and IPv6, LOCAL, other families, TLVs") {
    CHECK(complete_header(v2(0x21, 0x11, ipv4_block)).addresses == addresses("192.0.2.7", 40000, "198.51.100.1", 587));
    CHECK(complete_header(v2(0x21, 0x21, ipv6_block)).addresses == addresses("2001:db8::7", 40000, "2001:db8::1", 465));
    // TLVs after the addresses are skipped: ALPN, NOOP with no value, a custom one.
    const std::string tlvs = octets({0x01, 0, 4}) + "smtp" + octets({0x04, 0, 0}) + octets({0xe0, 0, 1, 0x2a});
    CHECK(complete_header(v2(0x21, 0x11, ipv4_block + tlvs)).addresses ==
          addresses("192.0.2.7", 40000, "198.51.100.1", 587));
    CHECK(complete_header(v2(0x21, 0x21, ipv6_block + tlvs)).addresses);
    // The largest header we take.
    const std::string noop = octets({0x04, 0x03, 0xf1}) + std::string(0x3f1, '\0');
    REQUIRE(ipv4_block.size() + noop.size() == 1024);
    CHECK(complete_header(v2(0x21, 0x11, ipv4_block + noop)).addresses);
    // LOCAL (a health check): the socket's addresses, whatever the family says.
    CHECK_FALSE(complete_header(v2(0x20, 0x00, "")).addresses);
    CHECK_FALSE(complete_header(v2(0x20, 0x11, ipv4_block)).addresses);
    CHECK_FALSE(complete_header(v2(0x20, 0x11, "xy")).addresses);
    // UNSPEC, UDP and UNIX: the socket's addresses.
    CHECK_FALSE(complete_header(v2(0x21, 0x00, "")).addresses);
    CHECK_FALSE(complete_header(v2(0x21, 0x12, ipv4_block)).addresses);
    CHECK_FALSE(complete_header(v2(0x21, 0x22, ipv6_block)).addresses);
    CHECK_FALSE(complete_header(v2(0x21, 0x31, std::string(216, 'u'))).addresses);
    CHECK_FALSE(complete_header(v2(0x21, 0x32, std::string(216, 'u'))).addresses);
    // IPv4-mapped in an IPv6 block: IPv4.
    std::string mapped = ipv6_block;
    mapped.replace(0, 16, octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9}));
    CHECK(complete_header(v2(0x21, 0x21, mapped)).addresses->remote == Endpoint{"192.0.2.9", 40000});
    // What comes after the header stays unread, even when it looks like a header.
    CHECK(complete_header(v2(0x21, 0x11, ipv4_block), v2(0x21, 0x11, ipv4_block)).addresses);
}

TEST_CASE("v2, malformed") {
    const std::string good = v2(0x21, 0x11, ipv4_block);
    for (const std::string& bad : std::vector<std::string>{
             v2_signature.substr(0, 11) + "X" + good.substr(12),    // signature
             "\r\n\r\nEHLO client\r\n",
             v2(0x11, 0x11, ipv4_block),   // version 1 in the binary form
             v2(0x31, 0x11, ipv4_block),   // version 3
             v2(0x22, 0x11, ipv4_block),   // command 2
             v2(0x2f, 0x11, ipv4_block),
             v2(0x21, 0x13, ipv4_block),   // transport 3
             v2(0x21, 0x41, ipv4_block),   // family 4
             v2(0x21, 0x10, ipv4_block),   // IPv4, no transport
             v2(0x21, 0x01, ipv4_block),
             v2(0x21, 0x11, ipv4_block.substr(0, 11)),  // address block too short
             v2(0x21, 0x21, ipv4_block),
             v2(0x21, 0x11, ipv4_block + octets({0x01})),           // half a TLV
             v2(0x21, 0x11, ipv4_block + octets({0x01, 0, 5}) + "smtp"),  // TLV longer than the rest
             v2(0x21, 0x11, ipv4_block + octets({0x04, 0, 0, 0x04})),
             v2(0x21, 0x11, ipv4_block + octets({0x04, 0x03, 0xf2}) + std::string(0x3f2, '\0')),  // 1025
             v2_signature + octets({0x21, 0x11, 0xff, 0xff}),       // announces 65535
         }) {
        CAPTURE(bad);
        CHECK_FALSE(refused(bad).empty());
    }
    // A too-long announcement is refused at the 16th octet, before reading the rest.
    CHECK(feed(v2_signature + octets({0x21, 0x11, 0x04, 0x01}) + std::string(1025, '\0')).second == 16);
    CHECK(feed(v2(0x31, 0x11, ipv4_block)).second == 16);
    // Incomplete: the parser waits (the reader's timeout ends it).
    const auto [h, taken] = feed(good.substr(0, good.size() - 1));
    CHECK(h.status == Status::incomplete);
    CHECK(taken == 16);
    CHECK(h.more == ipv4_block.size());
}

TEST_CASE("the parser refuses input the reader never gives it") {
    // More than asked for: the octets after the header are not the parser's.
    CHECK(parse_proxy_header("PROXY UNKNOWN\r\nEHLO x\r\n").status == Status::malformed);
    CHECK(parse_proxy_header(v2(0x20, 0x00, "") + "E").status == Status::malformed);
    CHECK(parse_proxy_header("").status == Status::incomplete);
    CHECK(parse_proxy_header("").more == 1);
}

TEST_CASE("read_proxy_header leaves the client's first octets in the socket") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const std::string sent = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\r\nEHLO client\r\n" +
                             v2(0x21, 0x21, ipv6_block) + "QUIT\r\n";
    REQUIRE(::write(pair[1], sent.data(), sent.size()) == static_cast<ssize_t>(sent.size()));

    auto h = read_proxy_header(pair[0], std::chrono::seconds(5));
    CHECK(h.status == Status::complete);
    CHECK(h.addresses == addresses("192.0.2.7", 40000, "198.51.100.1", 587));
    char next[13];
    REQUIRE(::read(pair[0], next, sizeof next) == 13);
    CHECK(std::string(next, 13) == "EHLO client\r\n");

    h = read_proxy_header(pair[0], std::chrono::seconds(5));
    CHECK(h.status == Status::complete);
    CHECK(h.addresses == addresses("2001:db8::7", 40000, "2001:db8::1", 465));
    REQUIRE(::read(pair[0], next, 6) == 6);
    CHECK(std::string(next, 6) == "QUIT\r\n");

    // Half a header, then silence: refused when the time is up.
    REQUIRE(::write(pair[1], "PROXY TCP4 ", 11) == 11);
    const auto start = std::chrono::steady_clock::now();
    h = read_proxy_header(pair[0], std::chrono::milliseconds(200));
    CHECK(h.status == Status::malformed);
    CHECK(h.error == "timeout");
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(200));

    // Half a header, then the end.
    ::close(pair[1]);
    h = read_proxy_header(pair[0], std::chrono::seconds(5));
    CHECK(h.status == Status::malformed);
    CHECK(h.error == "connection closed");
    ::close(pair[0]);
}

TEST_CASE("PROXY_PROTOCOL is off, or 1") {
    ::unsetenv("PROXY_PROTOCOL");
    CHECK_FALSE(proxy_protocol_required());
    ::setenv("PROXY_PROTOCOL", "", 1);
    CHECK_FALSE(proxy_protocol_required());
    ::setenv("PROXY_PROTOCOL", "1", 1);
    CHECK(proxy_protocol_required());
    for (const char* bad : {"0", "yes", "v2", "1 ", "2"}) {
        CAPTURE(bad);
        ::setenv("PROXY_PROTOCOL", bad, 1);
        CHECK_THROWS_AS(proxy_protocol_required(), std::invalid_argument);
    }
    ::unsetenv("PROXY_PROTOCOL");
}
