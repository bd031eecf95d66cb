#include "client_address.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "client_io.hpp"
#include "config.hpp"
#include "log.hpp"

namespace smtp_auth {

using namespace smtpauth;

ProxyHeader read_proxy_header(int fd, std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    FdChannel channel(fd, -1);
    char received[16 + proxy_v2_max_length];
    static_assert(sizeof received >= proxy_v1_max);
    std::size_t size = 0;
    for (;;) {
        auto header = parse_proxy_header({received, size});
        if (header.status != ProxyHeader::Status::incomplete) return header;
        // The parser never asks for more than a header can hold.
        if (header.more > sizeof received - size) return {ProxyHeader::Status::malformed, 0, {}, "too long"};
        for (std::size_t wanted = size + header.more; size < wanted;) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
            const long n = left.count() > 0 ? channel.read_some(received + size, wanted - size, left) : -2;
            if (n <= 0) {
                header.status = ProxyHeader::Status::malformed;
                header.error = n == 0 ? "connection closed" : n == -2 ? "timeout" : "read error";
                return header;
            }
            size += static_cast<std::size_t>(n);
        }
    }
}

bool proxy_protocol_required() {
    const char* v = std::getenv("PROXY_PROTOCOL");
    if (!v || !*v) return false;
    if (std::string_view(v) == "1") return true;
    throw std::invalid_argument("PROXY_PROTOCOL must be empty or 1");
}

bool locate_client(int fd) {
    const bool proxy = proxy_protocol_required();
    if (!std::getenv("TCPREMOTEIP")) export_addresses(addresses_without_ucspi(fd), false);
    if (!proxy) return true;

    const auto header = read_proxy_header(fd, proxy_header_timeout);
    if (header.status != ProxyHeader::Status::complete) {
        log_event("proxy header", "refused", header.error);  // from the balancer's address
        return false;
    }
    if (header.addresses) {
        export_addresses(*header.addresses, true);
        // Names tcpserver looked up for the balancer's address, not the client's.
        for (const char* name : {"TCPREMOTEHOST", "TCPREMOTEINFO", "TCP6REMOTEHOST", "TCP6REMOTEINFO"})
            ::unsetenv(name);
    }
    return true;
}

}  // namespace smtp_auth
