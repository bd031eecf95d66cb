// The connection's addresses as the chain sees them, from a socket when no
// tcpserver is there (systemd's Accept=yes).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "address.hpp"

using namespace smtp_auth;

namespace {

std::string octets(std::initializer_list<int> bytes) {
    std::string s;
    for (const int b : bytes) s += static_cast<char>(b);
    return s;
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "(unset)";
}

const char* const variables[] = {"PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT",
                                 "TCP6REMOTEIP", "TCP6REMOTEPORT", "TCP6LOCALIP", "TCP6LOCALPORT",
                                 "REMOTE_ADDR", "REMOTE_PORT"};

void clear_variables() {
    for (const char* v : variables) ::unsetenv(v);
}

}  // namespace

TEST_CASE("addresses are shown as tcpserver shows them") {
    CHECK(ip_text(octets({192, 0, 2, 7})) == "192.0.2.7");
    CHECK(ip_text(octets({0, 0, 0, 0})) == "0.0.0.0");
    CHECK(ip_text(octets({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) == "2001:db8::1");
    CHECK(ip_text(octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) == "::1");
    // An IPv4 client on an IPv6 socket: shown as IPv4.
    CHECK(ip_text(octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9})) == "198.51.100.9");
    // IPv4-compatible (deprecated) and NAT64 addresses stay IPv6.
    CHECK(ip_text(octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 9})) == "::198.51.100.9");
    CHECK(ip_text(octets({0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 9})) == "64:ff9b::c633:6409");
    CHECK(ip_text("") == "");
    CHECK(ip_text("abc") == "");
    CHECK(ip_text(std::string(17, '\0')) == "");
}

TEST_CASE("canonical_ip takes either family whole") {
    CHECK(canonical_ip("192.0.2.7") == "192.0.2.7");
    CHECK(canonical_ip("2001:DB8:0:0:0:0:0:1") == "2001:db8::1");
    CHECK(canonical_ip("::ffff:192.0.2.7") == "192.0.2.7");
    for (const char* bad : {"", "192.0.2", "192.0.2.7 ", "192.0.2.256", "192.0.2.07", "1:2:3:4:5:6:7:8:9",
                            "example.org", "[::1]", "::1%lo"}) {
        CAPTURE(bad);
        CHECK_FALSE(canonical_ip(bad));
    }
    CHECK_FALSE(canonical_ip(std::string(100, '1')));
}

TEST_CASE("socket addresses, IPv4 and IPv6") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(587);
    ::inet_pton(AF_INET, "203.0.113.5", &in.sin_addr);
    CHECK(endpoint_of(reinterpret_cast<sockaddr*>(&in), sizeof in) == Endpoint{"203.0.113.5", 587});
    CHECK_FALSE(endpoint_of(reinterpret_cast<sockaddr*>(&in), sizeof in - 1));

    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(65535);
    ::inet_pton(AF_INET6, "::ffff:203.0.113.5", &in6.sin6_addr);
    CHECK(endpoint_of(reinterpret_cast<sockaddr*>(&in6), sizeof in6) == Endpoint{"203.0.113.5", 65535});
    ::inet_pton(AF_INET6, "2001:db8::25", &in6.sin6_addr);
    CHECK(endpoint_of(reinterpret_cast<sockaddr*>(&in6), sizeof in6) == Endpoint{"2001:db8::25", 65535});

    sockaddr unix_address{};
    unix_address.sa_family = AF_UNIX;
    CHECK_FALSE(endpoint_of(&unix_address, sizeof unix_address));
}

TEST_CASE("a TCP connection's own addresses, exported as UCSPI names them") {
    clear_variables();
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t size = sizeof a;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &size) == 0);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    const int server = ::accept(listener, nullptr, nullptr);
    REQUIRE(server >= 0);
    sockaddr_in c{};
    size = sizeof c;
    REQUIRE(::getsockname(client, reinterpret_cast<sockaddr*>(&c), &size) == 0);

    const auto found = addresses_without_ucspi(server);
    CHECK(found.remote == Endpoint{"127.0.0.1", ntohs(c.sin_port)});
    CHECK(found.local == Endpoint{"127.0.0.1", ntohs(a.sin_port)});
    export_addresses(found, false);
    CHECK(env("PROTO") == "TCP");
    CHECK(env("TCPREMOTEIP") == "127.0.0.1");
    CHECK(env("TCPREMOTEPORT") == std::to_string(ntohs(c.sin_port)));
    CHECK(env("TCPLOCALIP") == "127.0.0.1");
    CHECK(env("TCPLOCALPORT") == std::to_string(ntohs(a.sin_port)));

    // What is already there stays, unless told otherwise.
    export_addresses({Endpoint{"2001:db8::9", 25}, std::nullopt}, false);
    CHECK(env("TCPREMOTEIP") == "127.0.0.1");
    export_addresses({Endpoint{"2001:db8::9", 25}, std::nullopt}, true);
    CHECK(env("PROTO") == "TCP6");
    CHECK(env("TCPREMOTEIP") == "2001:db8::9");
    CHECK(env("TCPREMOTEPORT") == "25");
    CHECK(env("TCPLOCALIP") == "127.0.0.1");
    // mailfront reads ${PROTO}REMOTEIP.
    CHECK(env("TCP6REMOTEIP") == "2001:db8::9");
    CHECK(env("TCP6REMOTEPORT") == "25");
    // Back to IPv4: no TCP6 value stays behind to contradict it.
    export_addresses({Endpoint{"192.0.2.1", 26}, Endpoint{"192.0.2.2", 587}}, true);
    CHECK(env("PROTO") == "TCP");
    CHECK(env("TCPREMOTEIP") == "192.0.2.1");
    CHECK(env("TCP6REMOTEIP") == "(unset)");
    CHECK(env("TCP6LOCALIP") == "(unset)");
    CHECK(env("TCPLOCALPORT") == "587");
    ::close(server);
    ::close(client);
    ::close(listener);
    clear_variables();
}

TEST_CASE("no TCP socket: systemd's REMOTE_ADDR and REMOTE_PORT, if any") {
    clear_variables();
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    CHECK(addresses_without_ucspi(pair[0]) == ConnectionAddresses{});

    ::setenv("REMOTE_ADDR", "::ffff:192.0.2.44", 1);
    ::setenv("REMOTE_PORT", "40001", 1);
    CHECK(addresses_without_ucspi(pair[0]).remote == Endpoint{"192.0.2.44", 40001});
    ::setenv("REMOTE_ADDR", "192.0.2.44\r\nX-Forged: yes", 1);
    CHECK_FALSE(addresses_without_ucspi(pair[0]).remote);
    ::close(pair[0]);
    ::close(pair[1]);
    clear_variables();
}
