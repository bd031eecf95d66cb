#include "client_io.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "secret.hpp"

namespace smtp_auth {

using namespace smtpauth;

FdChannel::FdChannel(asio::io_context& io, int read_fd, int write_fd)
    : io_(io), read_fd_(read_fd), write_fd_(write_fd) {
    read_flags_ = ::fcntl(read_fd_, F_GETFL);
    write_flags_ = ::fcntl(write_fd_, F_GETFL);
    acquire();
}

void FdChannel::acquire() {
    // One descriptor for both ways when they are one: epoll takes each once.
    in_.emplace(io_, read_fd_);
    if (write_fd_ != read_fd_) out_.emplace(io_, write_fd_);
}

void FdChannel::release() {
    if (in_) in_->release();
    if (out_) out_->release();
    in_.reset();
    out_.reset();
    // fds 0 and 1 are usually one socket: each gets back what it had.
    if (read_flags_ != -1) ::fcntl(read_fd_, F_SETFL, read_flags_);
    if (write_flags_ != -1) ::fcntl(write_fd_, F_SETFL, write_flags_);
}

void FdChannel::before_fork() {
    release();
    io_.notify_fork(asio::execution_context::fork_prepare);
}

void FdChannel::after_fork() {
    // Only the session process comes back here, as the child: its own
    // epoll instance, not one shared with the relay. The flags are those
    // of the new descriptors now.
    io_.notify_fork(asio::execution_context::fork_child);
    read_flags_ = ::fcntl(read_fd_, F_GETFL);
    write_flags_ = ::fcntl(write_fd_, F_GETFL);
    acquire();
}

asio::awaitable<long> FdChannel::read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) {
    auto& in = *in_;
    const auto r = co_await with_deadline(in, Clock::now() + timeout,
                                          [&](auto token) { return in.async_read_some(asio::buffer(data, size), token); });
    if (!r.error) co_return static_cast<long>(r.bytes);
    if (r.error == asio::error::timed_out) co_return -2;
    if (r.error == asio::error::eof || r.error == asio::error::connection_reset) co_return 0;
    co_return -1;
}

asio::awaitable<bool> FdChannel::write_all(std::string_view data, std::chrono::milliseconds timeout) {
    // A reply (an EHLO reply of 200 KiB) may be far larger than the socket
    // holds: the timer stands beside the whole of it.
    auto& out = writer();
    const auto r = co_await with_deadline(out, Clock::now() + timeout, [&](auto token) {
        return asio::async_write(out, asio::buffer(data.data(), data.size()), token);
    });
    co_return !r.error;
}

asio::awaitable<bool> LineReader::fill() {
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
    long n = -2;
    if (left.count() > 0) n = co_await channel_.read_some(buffer_.data() + old, block_size, std::min(timeout_, left));
    buffer_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n > 0) co_return true;
    status_ = n == 0 ? Status::eof : n == -2 ? Status::timeout : Status::error;
    co_return false;
}

asio::awaitable<LineReader::Result> LineReader::read_line() {
    for (;;) {
        const auto lf = buffer_.find('\n', start_);
        if (skipping_) {
            if (lf == std::string::npos) {
                start_ = buffer_.size();  // discard, bounded memory
                if (!co_await fill()) co_return Result{status_, {}};
                continue;
            }
            skipping_ = false;
            start_ = lf + 1;
            continue;
        }
        if (lf != std::string::npos && lf + 1 - start_ <= max_line_) {
            last_line_ = start_;
            start_ = lf + 1;
            co_return Result{Status::line, std::string_view(buffer_).substr(last_line_, start_ - last_line_)};
        }
        if (lf != std::string::npos || buffer_.size() - start_ > max_line_) {
            // Too long: say so once, then drop it up to its LF.
            skipping_ = true;
            co_return Result{Status::too_long, {}};
        }
        if (!co_await fill()) co_return Result{status_, {}};
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
