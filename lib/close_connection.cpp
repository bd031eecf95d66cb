#include "close_connection.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

#include "descriptors.hpp"

namespace smtpauth {

namespace {
constexpr std::size_t max_dropped = 16 << 20;
}

void drain_before_close(int in, int out, std::chrono::milliseconds grace) noexcept {
    int unread = 0;
    if (in < 0 || out < 0 || ::ioctl(in, FIONREAD, &unread) != 0 || unread <= 0) return;
    if (::shutdown(out, SHUT_WR) != 0) return;  // not a socket: no reset to fear
    const auto deadline = std::chrono::steady_clock::now() + grace;
    char sink[16384];
    for (std::size_t dropped = 0; dropped < max_dropped;) {
        if (!wait_until(in, POLLIN, deadline)) return;
        const ssize_t n = ::recv(in, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0) return;  // the client has closed its end: a clean close now
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return;
        }
        dropped += static_cast<std::size_t>(n);
    }
}

}  // namespace smtpauth
