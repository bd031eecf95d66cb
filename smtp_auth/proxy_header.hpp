// The PROXY protocol header, versions 1 and 2, as a load balancer (HAProxy's
// "send-proxy", "send-proxy-v2") puts it in front of the client's bytes
// [haproxy doc/proxy-protocol.txt]. A pure parser: the caller reads, and
// reads only what the parser asks for, so that not one byte of the client's
// own after the header is taken from the socket.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

#include "address.hpp"

namespace smtp_auth {

// v1: a text line of at most 107 octets with its CRLF. v2: 16 octets, then
// the length they announce, which we take up to 1024 (addresses and TLVs;
// HAProxy sends a few hundred at most).
constexpr std::size_t proxy_v1_max = 107;
constexpr std::size_t proxy_v2_max_length = 1024;

struct ProxyHeader {
    enum class Status { incomplete, complete, malformed };
    Status status = Status::incomplete;
    // incomplete: read exactly this many more octets (never past the end
    // of a well-formed header), then parse all of them again.
    std::size_t more = 0;
    // complete: the client's addresses (remote = source, local =
    // destination); none for v1 UNKNOWN, v2 LOCAL and v2 families other
    // than TCP over IPv4 or IPv6, where the socket's own addresses stand.
    std::optional<ConnectionAddresses> addresses;
    // malformed: why, for the log.
    std::string_view error;
};

// `received`: every octet read so far. Malformed as soon as the bytes cannot
// begin a header, so a client that is not a balancer is refused at its
// first octet.
ProxyHeader parse_proxy_header(std::string_view received);

}  // namespace smtp_auth
