// The two ends of the client's TCP connection, as UCSPI programs name them
// for the chain (PROTO, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP,
// TCPLOCALPORT): from the socket itself when no tcpserver set them.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtp_auth {

struct Endpoint {
    std::string ip;  // inet_ntop's text; an IPv4-mapped IPv6 address as IPv4
    std::uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
};

struct ConnectionAddresses {
    std::optional<Endpoint> remote;
    std::optional<Endpoint> local;
    bool operator==(const ConnectionAddresses&) const = default;
};

// An address in network byte order, 4 or 16 octets, as text. An
// IPv4-mapped IPv6 address (::ffff:192.0.2.1, what an IPv6 socket shows for
// an IPv4 client) becomes 192.0.2.1, as tcpserver would show it. "" for any
// other size.
std::string ip_text(std::string_view octets);

// An AF_INET or AF_INET6 socket address; nothing for any other family.
std::optional<Endpoint> endpoint_of(const sockaddr* address, socklen_t size);

// An address as text in either family (IPv4 first), in ip_text's form:
// nothing unless inet_pton takes it whole.
std::optional<std::string> canonical_ip(std::string_view text);

// Without tcpserver (systemd's Accept=yes, inetd): getpeername(2) and
// getsockname(2) on `fd`; when fd is no TCP socket, systemd's REMOTE_ADDR
// and REMOTE_PORT stand in for the remote end.
ConnectionAddresses addresses_without_ucspi(int fd);

// Sets PROTO ("TCP", or "TCP6" for an IPv6 client, as ucspi-tcp6 does),
// TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP and TCPLOCALPORT for what is
// known, and for an IPv6 client the same as TCP6REMOTEIP...; `replace`
// says whether a value already set gives way (and, for an IPv4 client, that
// TCP6 values go).
void export_addresses(const ConnectionAddresses& addresses, bool replace);

}  // namespace smtp_auth
