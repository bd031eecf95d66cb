#include "client_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "descriptors.hpp"
#include "secret.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {
// 0 ready, -1 error, -2 timeout.
int wait_for(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n > 0) return 0;
        if (n == 0) return -2;
        if (errno != EINTR) return -1;
    }
}

// O_NONBLOCK for as long as it lives. The descriptor is the client's socket,
// which the chain inherits and expects as it came: the flag is put back.
class NonBlocking {
public:
    explicit NonBlocking(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {
        if (flags_ != -1 && !(flags_ & O_NONBLOCK)) ::fcntl(fd_, F_SETFL, flags_ | O_NONBLOCK);
    }
    ~NonBlocking() {
        if (flags_ != -1 && !(flags_ & O_NONBLOCK)) ::fcntl(fd_, F_SETFL, flags_);
    }
    NonBlocking(const NonBlocking&) = delete;
    NonBlocking& operator=(const NonBlocking&) = delete;

private:
    int fd_;
    int flags_;
};
}  // namespace

long FdChannel::read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) {
    if (const int w = wait_for(read_fd_, POLLIN, timeout); w != 0) return w;
    for (;;) {
        const ssize_t n = ::read(read_fd_, data, size);
        if (n >= 0) return n;
        if (errno == ECONNRESET) return 0;
        if (errno != EINTR) return -1;
    }
}

bool FdChannel::write_all(std::string_view data, std::chrono::milliseconds timeout) {
    // A reply (an EHLO reply of 32 KiB) may be larger than the room poll(2)
    // promises: a blocking write(2) would then wait for the client for ever.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const NonBlocking nonblocking(write_fd_);
    while (!data.empty()) {
        const ssize_t n = ::write(write_fd_, data.data(), data.size());
        if (n >= 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_until(write_fd_, POLLOUT, deadline)) return false;
        } else if (errno != EINTR) {
            return false;
        }
    }
    return true;
}

bool LineReader::fill() {
    // Keep the buffer small: drop what was consumed before reading more.
    if (start_ > 0) {
        const std::size_t keep = buffer_.size() - start_;
        std::memmove(buffer_.data(), buffer_.data() + start_, keep);
        wipe(buffer_.data() + keep, buffer_.size() - keep);
        buffer_.resize(keep);
        last_line_ = last_line_ > start_ ? last_line_ - start_ : 0;
        start_ = 0;
    }
    const std::size_t old = buffer_.size();
    buffer_.resize(old + block_size);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
    const long n = left.count() <= 0 ? -2 : channel_.read_some(buffer_.data() + old, block_size, std::min(timeout_, left));
    buffer_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n > 0) return true;
    status_ = n == 0 ? Status::eof : n == -2 ? Status::timeout : Status::error;
    return false;
}

LineReader::Result LineReader::read_line() {
    for (;;) {
        const auto lf = buffer_.find('\n', start_);
        if (skipping_) {
            if (lf == std::string::npos) {
                start_ = buffer_.size();  // discard, bounded memory
                if (!fill()) return {status_, {}};
                continue;
            }
            skipping_ = false;
            start_ = lf + 1;
            continue;
        }
        if (lf != std::string::npos && lf + 1 - start_ <= max_line_) {
            last_line_ = start_;
            start_ = lf + 1;
            return {Status::line, std::string_view(buffer_).substr(last_line_, start_ - last_line_)};
        }
        if (lf != std::string::npos || buffer_.size() - start_ > max_line_) {
            // Too long: say so once, then drop it up to its LF.
            skipping_ = true;
            return {Status::too_long, {}};
        }
        if (!fill()) return {status_, {}};
    }
}

std::string_view LineReader::unread() const {
    return std::string_view(buffer_).substr(start_);
}

std::string_view LineReader::from_last_line() const {
    return std::string_view(buffer_).substr(last_line_);
}

std::size_t LineReader::discard_unread() {
    const std::size_t dropped = buffer_.size() - start_;
    wipe(buffer_);
    buffer_.clear();
    start_ = last_line_ = 0;
    skipping_ = false;
    return dropped;
}

void LineReader::wipe_consumed() {
    wipe(buffer_.data(), start_);
}

}  // namespace smtp_auth
