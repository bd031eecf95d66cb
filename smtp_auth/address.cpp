#include "address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace smtp_auth {


std::string ip_text(std::string_view octets) {
    static constexpr unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (octets.size() == 16 && std::memcmp(octets.data(), v4_mapped, sizeof v4_mapped) == 0)
        octets.remove_prefix(sizeof v4_mapped);
    char text[INET6_ADDRSTRLEN];
    const int family = octets.size() == 4 ? AF_INET : octets.size() == 16 ? AF_INET6 : AF_UNSPEC;
    if (family == AF_UNSPEC || !::inet_ntop(family, octets.data(), text, sizeof text)) return "";
    return text;
}

std::optional<Endpoint> endpoint_of(const sockaddr* address, socklen_t size) {
    if (address->sa_family == AF_INET && size >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in in{};
        std::memcpy(&in, address, sizeof in);
        return Endpoint{ip_text({reinterpret_cast<const char*>(&in.sin_addr), 4}), ntohs(in.sin_port)};
    }
    if (address->sa_family == AF_INET6 && size >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, address, sizeof in6);
        return Endpoint{ip_text({reinterpret_cast<const char*>(&in6.sin6_addr), 16}), ntohs(in6.sin6_port)};
    }
    return std::nullopt;
}

std::optional<std::string> canonical_ip(std::string_view text) {
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string z(text);  // inet_pton wants a C string
    unsigned char octets[16];
    if (::inet_pton(AF_INET, z.c_str(), octets) == 1) return ip_text({reinterpret_cast<char*>(octets), 4});
    if (::inet_pton(AF_INET6, z.c_str(), octets) == 1) return ip_text({reinterpret_cast<char*>(octets), 16});
    return std::nullopt;
}

namespace {

std::optional<Endpoint> from_remote_addr() {
    const char* addr = std::getenv("REMOTE_ADDR");
    const char* port = std::getenv("REMOTE_PORT");
    if (!addr) return std::nullopt;
    const auto ip = canonical_ip(addr);
    if (!ip) return std::nullopt;
    Endpoint e{*ip, 0};
    if (port) {
        const std::string_view p(port);
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), e.port);
        if (ec != std::errc{} || end != p.data() + p.size()) e.port = 0;
    }
    return e;
}

}  // namespace

ConnectionAddresses addresses_without_ucspi(int fd) {
    ConnectionAddresses a;
    sockaddr_storage s{};
    socklen_t size = sizeof s;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&s), &size) == 0)
        a.remote = endpoint_of(reinterpret_cast<sockaddr*>(&s), size);
    if (!a.remote) a.remote = from_remote_addr();
    size = sizeof s;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &size) == 0)
        a.local = endpoint_of(reinterpret_cast<sockaddr*>(&s), size);
    return a;
}

void export_addresses(const ConnectionAddresses& addresses, bool replace) {
    const int overwrite = replace ? 1 : 0;
    const bool ipv6 = addresses.remote && addresses.remote->ip.find(':') != std::string::npos;
    // Under PROTO=TCP6 some read TCPREMOTEIP (qmail-smtpd), others
    // ${PROTO}REMOTEIP (mailfront, IPv6-patched qmail): both are set.
    const auto put = [&](const std::string& name, const std::string& value) {
        ::setenv(("TCP" + name).c_str(), value.c_str(), overwrite);
        if (ipv6) ::setenv(("TCP6" + name).c_str(), value.c_str(), overwrite);
        else if (replace) ::unsetenv(("TCP6" + name).c_str());
    };
    if (const auto& r = addresses.remote) {
        ::setenv("PROTO", ipv6 ? "TCP6" : "TCP", overwrite);
        put("REMOTEIP", r->ip);
        put("REMOTEPORT", std::to_string(r->port));
    }
    if (const auto& l = addresses.local) {
        put("LOCALIP", l->ip);
        put("LOCALPORT", std::to_string(l->port));
    }
}

}  // namespace smtp_auth
