#include "idle_timeout.hpp"

#include <string_view>

namespace smtpproxy {


std::optional<std::chrono::seconds> parse_idle_timeout(const char* value) {
    if (value == nullptr) return default_idle_timeout;
    const std::string_view text(value);
    if (text.empty() || text.size() > 9) return std::nullopt;  // 9 digits cannot overflow
    long long seconds = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        seconds = seconds * 10 + (c - '0');
    }
    if (seconds < 1 || seconds > max_idle_timeout.count()) return std::nullopt;
    return std::chrono::seconds(seconds);
}

}  // namespace smtpproxy
