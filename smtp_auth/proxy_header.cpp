#include "proxy_header.hpp"

#include <cstdint>
#include <vector>

namespace smtp_auth {


namespace {

using Status = ProxyHeader::Status;

constexpr std::string_view v1_start = "PROXY ";
constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t v2_fixed = 16;

ProxyHeader incomplete(std::size_t more) { return {Status::incomplete, more, std::nullopt, {}}; }
ProxyHeader malformed(std::string_view why) { return {Status::malformed, 0, std::nullopt, why}; }
ProxyHeader complete(std::optional<ConnectionAddresses> a) { return {Status::complete, 0, std::move(a), {}}; }

std::vector<std::string_view> split_at_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    for (;;) {
        const auto space = s.find(' ');
        out.push_back(s.substr(0, space));
        if (space == std::string_view::npos) return out;
        s.remove_prefix(space + 1);
    }
}

// Decimal 0..65535, no leading zero.
std::optional<std::uint16_t> v1_port(std::string_view s) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    unsigned n = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(n);
}

// The address in the family the protocol names (inet_pton refuses leading
// zeros in IPv4).
std::optional<std::string> v1_address(std::string_view s, bool ipv6) {
    const auto ip = canonical_ip(s);
    if (!ip || (s.find(':') != std::string_view::npos) != ipv6) return std::nullopt;
    return ip;
}

ProxyHeader parse_v1(std::string_view received) {
    const std::size_t shown = std::min(received.size(), v1_start.size());
    if (received.substr(0, shown) != v1_start.substr(0, shown)) return malformed("not a PROXY header");
    const auto lf = received.find('\n');
    const auto cr = received.find('\r');
    if (lf == std::string_view::npos) {
        // A CR may only come right before the LF, so only as the last octet.
        if (cr != std::string_view::npos && cr + 1 != received.size()) return malformed("v1: CR without LF");
        if (received.size() >= proxy_v1_max) return malformed("v1: no CRLF within 107 octets");
        return incomplete(1);
    }
    // We never ask past an LF, so it is the last octet.
    if (lf + 1 != received.size()) return malformed("v1: read past the line");
    if (cr == std::string_view::npos || cr + 1 != lf) return malformed("v1: LF without CR");
    const std::string_view line = received.substr(v1_start.size(), cr - v1_start.size());

    if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return complete(std::nullopt);
    const auto fields = split_at_spaces(line);
    if (fields[0] != "TCP4" && fields[0] != "TCP6") return malformed("v1: protocol not TCP4, TCP6 or UNKNOWN");
    if (fields.size() != 5) return malformed("v1: not four fields after the protocol");
    const bool ipv6 = fields[0] == "TCP6";
    const auto source = v1_address(fields[1], ipv6);
    const auto destination = v1_address(fields[2], ipv6);
    if (!source || !destination) return malformed("v1: bad address");
    const auto source_port = v1_port(fields[3]);
    const auto destination_port = v1_port(fields[4]);
    if (!source_port || !destination_port) return malformed("v1: bad port");
    return complete(ConnectionAddresses{Endpoint{*source, *source_port}, Endpoint{*destination, *destination_port}});
}

std::uint16_t big_endian_16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) | static_cast<unsigned char>(s[at + 1]));
}

// After the addresses: type, 16-bit length, value; they must fill the rest exactly.
bool tlvs_well_framed(std::string_view tlvs) {
    while (!tlvs.empty()) {
        if (tlvs.size() < 3) return false;
        const std::size_t length = big_endian_16(tlvs, 1);
        if (tlvs.size() - 3 < length) return false;
        tlvs.remove_prefix(3 + length);
    }
    return true;
}

ProxyHeader parse_v2(std::string_view received) {
    const std::size_t shown = std::min(received.size(), v2_signature.size());
    if (received.substr(0, shown) != v2_signature.substr(0, shown)) return malformed("not a PROXY header");
    if (received.size() < v2_fixed) return incomplete(v2_fixed - received.size());

    const auto version_command = static_cast<unsigned char>(received[12]);
    const auto family_protocol = static_cast<unsigned char>(received[13]);
    const std::size_t length = big_endian_16(received, 14);
    if (version_command >> 4 != 2) return malformed("v2: version not 2");
    const unsigned command = version_command & 0xf;
    if (command > 1) return malformed("v2: command neither LOCAL nor PROXY");
    switch (family_protocol) {
        case 0x00:  // UNSPEC
        case 0x11: case 0x12:  // TCP, UDP over IPv4
        case 0x21: case 0x22:  // over IPv6
        case 0x31: case 0x32:  // UNIX stream, datagram
            break;
        default:
            return malformed("v2: unknown family or protocol");
    }
    if (length > proxy_v2_max_length) return malformed("v2: header over 1040 octets");
    if (received.size() < v2_fixed + length) return incomplete(v2_fixed + length - received.size());
    if (received.size() > v2_fixed + length) return malformed("v2: read past the header");

    // LOCAL: the balancer's own connection (a health check); other families
    // fall back to the socket's addresses, as the specification allows.
    if (command == 0 || (family_protocol != 0x11 && family_protocol != 0x21)) return complete(std::nullopt);
    const std::size_t ip_size = family_protocol == 0x11 ? 4 : 16;
    const std::string_view block = received.substr(v2_fixed);
    if (block.size() < 2 * ip_size + 4) return malformed("v2: address block too short");
    if (!tlvs_well_framed(block.substr(2 * ip_size + 4))) return malformed("v2: TLVs overrun the header");
    return complete(ConnectionAddresses{
        Endpoint{ip_text(block.substr(0, ip_size)), big_endian_16(block, 2 * ip_size)},
        Endpoint{ip_text(block.substr(ip_size, ip_size)), big_endian_16(block, 2 * ip_size + 2)}});
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view received) {
    // One octet tells the versions apart; a v1 header may be as short as 15
    // octets ("PROXY UNKNOWN\r\n"), so nothing more is read before it.
    if (received.empty()) return incomplete(1);
    if (received[0] == 'P') return parse_v1(received);
    if (received[0] == '\r') return parse_v2(received);
    return malformed("not a PROXY header");
}

}  // namespace smtp_auth
