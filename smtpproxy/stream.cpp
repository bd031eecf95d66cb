#include "stream.hpp"

#include <fcntl.h>

namespace smtpproxy {

Stream::Stream(asio::io_context& io, int fd) : asio::posix::stream_descriptor(io) {
    if (fd < 0) return;
    const int flags = ::fcntl(fd, F_GETFL);
    was_blocking_ = flags != -1 && (flags & O_NONBLOCK) == 0;
    if (was_blocking_) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    assign(fd);
}

void Stream::close() noexcept {
    if (!is_open()) return;
    if (was_blocking_) {
        const int flags = ::fcntl(native_handle(), F_GETFL);
        if (flags != -1) ::fcntl(native_handle(), F_SETFL, flags & ~O_NONBLOCK);
    }
    close_as_is();
}

void Stream::close_as_is() noexcept {
    Error ignored;
    asio::posix::stream_descriptor::close(ignored);
}

}  // namespace smtpproxy
