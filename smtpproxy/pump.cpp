#include "pump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace smtpproxy {


namespace {

// What splice(2) says when it cannot work with these descriptors; nothing
// has moved then, so copying can take over.
bool splice_unsupported(int e) { return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP; }

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

Pump::~Pump() {
    if (stage_[0] >= 0) ::close(stage_[0]);
    if (stage_[1] >= 0) ::close(stage_[1]);
}

Pump::Step Pump::step() {
    if (first_written_ < first_.size()) return write_first();
    if (splicing_) {
        const Step s = splice_step();
        if (s != Step::error || !splice_unsupported(error_)) return s;
        splicing_ = false;  // and copy from now on
    }
    return copy_step();
}

Pump::Step Pump::write_first() {
    ssize_t n;
    do n = ::write(to_, first_.data() + first_written_, first_.size() - first_written_);
    while (n == -1 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) return Step::wait_write;
        error_ = errno;
        return Step::error;
    }
    first_written_ += static_cast<std::size_t>(n);
    if (first_written_ == first_.size()) std::string().swap(first_);
    return Step::moved;
}

// From a socket into a pipe, splice(2) holds the pipe's lock while the
// socket's protocol does its work (on loopback, the sender's side too): the
// backend, reading that pipe, spins on the lock meanwhile. So once the
// backend is seen falling behind (a message, not a dialogue), bytes go
// through a pipe of our own: the slow part happens under its lock, and the
// move on to the backend's pipe is quick. With it, an EAGAIN is clear too:
// an empty staging pipe means the source is empty.
//
// The staging pipe is as large as an unprivileged process may make one
// (stage_size). On loopback, reading a socket whose window had closed sends
// the window update, and the kernel then transmits the sender's queued
// segments and receives them in the reader's time: half of the relay's CPU
// in front of qmail-smtpd, which drains its pipe slowly, so the client's
// window closes. The more one splice takes from the socket, the larger the
// segments the window lets through and the fewer of them: 1.27 -> 0.69
// CPU-s/GiB relaying to qmail-smtpd (bench/RESULTS.md). Should the kernel
// refuse the size (fs.pipe-max-size, or the account's pipe limit), the
// default pipe still works.
void Pump::stage() {
    staging_checked_ = true;
    struct stat from {}, to {};
    if (::fstat(from_, &from) == -1 || ::fstat(to_, &to) == -1) return;
    if (S_ISFIFO(from.st_mode) || !S_ISFIFO(to.st_mode)) return;
    if (::pipe2(stage_, O_CLOEXEC | O_NONBLOCK) == -1) {
        stage_[0] = stage_[1] = -1;
        return;
    }
    (void)::fcntl(stage_[1], F_SETPIPE_SZ, static_cast<int>(stage_size));
}

Pump::Step Pump::staged_step() {
    for (;;) {
        if (staged_ > 0) {
            const ssize_t n = ::splice(stage_[0], nullptr, to_, nullptr, staged_,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                staged_ -= static_cast<std::size_t>(n);
                return Step::moved;
            }
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && would_block(errno)) return Step::wait_write;
            error_ = n == 0 ? EPIPE : errno;
            return Step::error;
        }
        const ssize_t n = ::splice(from_, nullptr, stage_[1], nullptr, splice_size,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            staged_ = static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return Step::eof;
        if (errno == EINTR) continue;
        if (would_block(errno)) return Step::wait_read;
        error_ = errno;
        return Step::error;
    }
}

Pump::Step Pump::splice_step() {
    if (stage_[0] >= 0) return staged_step();
    for (;;) {
        const ssize_t n = ::splice(from_, nullptr, to_, nullptr, splice_size,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            spurious_ = 0;
            return Step::moved;
        }
        if (n == 0) return Step::eof;
        if (errno == EINTR) continue;
        if (!would_block(errno)) {
            error_ = errno;
            return Step::error;
        }
        // One error for two causes: an empty source or a full destination.
        const Step s = blocked();
        if (s == Step::wait_write && !staging_checked_) stage();
        if (s != Step::moved) return s;
        // Both ends became ready since: try again at once, a few times;
        // should the kernel keep saying no, try again a little later.
        if (++spurious_ > 16) {
            spurious_ = 0;
            return Step::retry_later;
        }
    }
}

// Which end keeps splice(2) from moving anything; moved if neither does.
Pump::Step Pump::blocked() {
    pollfd p[2] = {{from_, POLLIN, 0}, {to_, POLLOUT, 0}};
    int n;
    do n = ::poll(p, 2, 0);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        error_ = errno;
        return Step::error;
    }
    // An error or a hang-up counts as ready: the next call reports it.
    if (p[0].revents == 0) return Step::wait_read;
    if (p[1].revents == 0) return Step::wait_write;
    return Step::moved;
}

Pump::Step Pump::copy_step() {
    if (!buffer_) buffer_ = std::make_unique<char[]>(buffer_size);
    bool moved = false;
    if (begin_ == end_) {
        ssize_t n;
        do n = ::read(from_, buffer_.get(), buffer_size);
        while (n == -1 && errno == EINTR);
        if (n == 0) return Step::eof;
        if (n < 0) {
            if (would_block(errno)) return Step::wait_read;
            error_ = errno;
            return Step::error;
        }
        begin_ = 0;
        end_ = static_cast<std::size_t>(n);
        moved = true;
    }
    ssize_t n;
    do n = ::write(to_, buffer_.get() + begin_, end_ - begin_);
    while (n == -1 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) return moved ? Step::moved : Step::wait_write;
        error_ = errno;
        return Step::error;
    }
    begin_ += static_cast<std::size_t>(n);
    return Step::moved;
}

void Pacer::drained(std::size_t left, std::size_t full) noexcept {
    if (full == 0 || left >= full) {
        draining_ = false;  // it took nothing: wait for it to read again
        return;
    }
    if (left > full / 4 * 3) pause_ = std::min(pause_ * 2, longest);
    else if (left < full / 4) pause_ = std::max(pause_ / 2, shortest);
}

}  // namespace smtpproxy
