#include "log.hpp"

#include <unistd.h>

#include <cerrno>

namespace smtpauth {

std::string escape_for_log(std::string_view text, std::size_t limit) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() < limit ? text.size() : limit);
    std::size_t shown = 0;
    for (const char ch : text) {
        if (shown++ == limit) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            out += ch;
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

void log_line(std::string_view program, std::string_view message) noexcept {
    try {
        std::string line;
        line.reserve(program.size() + message.size() + 3);
        line.append(program).append(": ").append(message).push_back('\n');
        std::string_view rest = line;
        while (!rest.empty()) {
            const ssize_t n = ::write(2, rest.data(), rest.size());
            if (n <= 0) return;  // logging must never stop the session
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    } catch (...) {
    }
}

int refuse_session(std::string_view program, std::string_view why, int exit_code) noexcept {
    log_line(program, why);
    std::string_view rest = "421 4.3.0 service temporarily unavailable\r\n";
    while (!rest.empty()) {
        const ssize_t n = ::write(1, rest.data(), rest.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) break;
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return exit_code;
}

}  // namespace smtpauth
