// The PROXY protocol header on any bytes, read as smtp_auth reads it: only
// the octets the parser asks for. Checked: it never asks past the end of the
// header it accepts nor beyond the bounds; an accepted header has the shape
// its version prescribes; its addresses are canonical text and come back
// the same when written out again as v1 and as v2 and parsed.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "check.hpp"
#include "proxy_header.hpp"

using namespace smtp_auth;
using Status = ProxyHeader::Status;

namespace {

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

// As the reader feeds the parser: the result, and the octets it took.
std::pair<ProxyHeader, std::size_t> feed(std::string_view input) {
    std::size_t taken = 0;
    for (;;) {
        auto h = parse_proxy_header(input.substr(0, taken));
        if (h.status != Status::incomplete) return {h, taken};
        FUZZ_CHECK(h.more > 0);
        FUZZ_CHECK(taken + h.more <= 16 + proxy_v2_max_length);
        if (taken + h.more > input.size()) return {h, taken};
        taken += h.more;
    }
}

bool ipv4_mapped(const std::string& ip) {
    static constexpr unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char octets[16];
    return ::inet_pton(AF_INET6, ip.c_str(), octets) == 1 && std::memcmp(octets, prefix, sizeof prefix) == 0;
}

bool ipv6(const Endpoint& e) { return e.ip.find(':') != std::string::npos; }

std::string v1_line(const ConnectionAddresses& a) {
    return "PROXY " + std::string(ipv6(*a.remote) ? "TCP6 " : "TCP4 ") + a.remote->ip + " " + a.local->ip + " " +
           std::to_string(a.remote->port) + " " + std::to_string(a.local->port) + "\r\n";
}

std::string packed(const Endpoint& e, bool as_ipv6) {
    unsigned char octets[16] = {};
    if (as_ipv6 && !ipv6(e)) {  // IPv4-mapped
        octets[10] = octets[11] = 0xff;
        FUZZ_CHECK(::inet_pton(AF_INET, e.ip.c_str(), octets + 12) == 1);
    } else {
        FUZZ_CHECK(::inet_pton(as_ipv6 ? AF_INET6 : AF_INET, e.ip.c_str(), octets) == 1);
    }
    return std::string(reinterpret_cast<char*>(octets), as_ipv6 ? 16 : 4);
}

std::string port(std::uint16_t p) { return {static_cast<char>(p >> 8), static_cast<char>(p & 0xff)}; }

std::string v2_header(const ConnectionAddresses& a) {
    const bool as_ipv6 = ipv6(*a.remote) || ipv6(*a.local);
    const std::string block = packed(*a.remote, as_ipv6) + packed(*a.local, as_ipv6) + port(a.remote->port) +
                              port(a.local->port);
    return v2_signature + static_cast<char>(0x21) + static_cast<char>(as_ipv6 ? 0x21 : 0x11) + '\0' +
           static_cast<char>(block.size()) + block;
}

void check_comes_back(const std::string& header, const ConnectionAddresses& a) {
    const auto [h, taken] = feed(header + "EHLO x\r\n");
    FUZZ_CHECK(h.status == Status::complete);
    FUZZ_CHECK(taken == header.size());
    FUZZ_CHECK(h.addresses == a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto [h, taken] = feed(input);
    const std::string_view header = input.substr(0, taken);
    if (h.status == Status::malformed) FUZZ_CHECK(!h.error.empty());
    if (h.status != Status::complete) {
        FUZZ_CHECK(!h.addresses);
        return 0;
    }

    // The shape of what was accepted.
    if (header[0] == 'P') {
        FUZZ_CHECK(header.size() >= 15 && header.size() <= proxy_v1_max);
        FUZZ_CHECK(header.starts_with("PROXY "));
        FUZZ_CHECK(header.ends_with("\r\n"));
        FUZZ_CHECK(header.find('\n') == header.size() - 1);
        FUZZ_CHECK(header.find('\r') == header.size() - 2);
        FUZZ_CHECK(h.addresses.has_value() != header.starts_with("PROXY UNKNOWN"));
    } else {
        FUZZ_CHECK(header.size() >= 16);
        FUZZ_CHECK(header.substr(0, 12) == v2_signature);
        const std::size_t length = (static_cast<unsigned char>(header[14]) << 8) | static_cast<unsigned char>(header[15]);
        FUZZ_CHECK(header.size() == 16 + length);
        FUZZ_CHECK(length <= proxy_v2_max_length);
        const auto command = static_cast<unsigned char>(header[12]);
        FUZZ_CHECK(command == 0x20 || command == 0x21);
        if (command == 0x20) FUZZ_CHECK(!h.addresses);
    }
    // Not one octet more: the same header with anything after it parses alike.
    const auto [again, again_taken] = feed(std::string(header) + "\r\nPROXY UNKNOWN\r\n");
    FUZZ_CHECK(again_taken == taken);
    FUZZ_CHECK(again.addresses == h.addresses);

    if (!h.addresses) return 0;
    const auto& a = *h.addresses;
    FUZZ_CHECK(a.remote && a.local);
    for (const auto* e : {&*a.remote, &*a.local}) {
        FUZZ_CHECK(!e->ip.empty());
        FUZZ_CHECK(!ipv4_mapped(e->ip));  // shown as IPv4
        FUZZ_CHECK(canonical_ip(e->ip) == e->ip);
    }
    if (ipv6(*a.remote) == ipv6(*a.local)) check_comes_back(v1_line(a), a);
    check_comes_back(v2_header(a), a);
    return 0;
}
