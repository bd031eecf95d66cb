#include "tls_verdict.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "descriptors.hpp"

namespace smtp_auth {

std::optional<TlsInfo> read_verdict(int fd, std::chrono::steady_clock::time_point deadline) {
    char text[256];
    std::size_t got = 0;
    for (;;) {
        if (!smtpauth::wait_until(fd, POLLIN, deadline)) return std::nullopt;
        const ssize_t n = ::read(fd, text + got, sizeof text - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
        if (got == sizeof text) return std::nullopt;
    }
    const std::string_view told(text, got);
    const auto space = told.find(' ');
    if (space == std::string_view::npos) return std::nullopt;  // nothing: the handshake failed
    const auto name = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '-' || c == '_';
        });
    };
    const auto protocol = told.substr(0, space), cipher = told.substr(space + 1);
    if (!name(protocol) || !name(cipher)) return std::nullopt;
    return TlsInfo{std::string(protocol), std::string(cipher)};
}

}  // namespace smtp_auth
