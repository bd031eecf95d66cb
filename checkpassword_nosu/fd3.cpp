#include "fd3.hpp"

#include <cerrno>
#include <string>
#include <unistd.h>

namespace checkpassword_nosu {

ReadResult read_credentials(int fd, smtpauth::Secret& out) {
    out.clear();
    std::string& buffer = out.str();
    // One byte of room past the limit tells "exactly 512" from "more".
    buffer.reserve(credentials_limit + 1);
    buffer.resize(credentials_limit + 1);
    std::size_t used = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            buffer.resize(used);
            return ReadResult::read_error;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        if (used > credentials_limit) {
            buffer.resize(used);
            return ReadResult::too_long;
        }
    }
    buffer.resize(used);  // shrinking keeps the storage, so nothing is copied
    return ReadResult::ok;
}

std::optional<Credentials> parse_credentials(std::string_view data) {
    const auto login_end = data.find('\0');
    if (login_end == std::string_view::npos) return std::nullopt;
    const auto password_end = data.find('\0', login_end + 1);
    if (password_end == std::string_view::npos) return std::nullopt;
    Credentials c;
    c.login = data.substr(0, login_end);
    c.password = data.substr(login_end + 1, password_end - login_end - 1);
    const auto third_start = password_end + 1;
    const auto third_end = data.find('\0', third_start);
    c.third = data.substr(third_start, third_end == std::string_view::npos
                                           ? std::string_view::npos
                                           : third_end - third_start);
    return c;
}

bool looks_like_cram_challenge(std::string_view third) noexcept {
    return third.size() >= 3 && third.front() == '<' && third.back() == '>' &&
           third.find('@') != std::string_view::npos;
}

}  // namespace checkpassword_nosu
