#include "pipe_gauge.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

namespace smtpproxy {

PipeGauge::PipeGauge(int fd) : fd_(fd) {
    struct stat st {};
    is_pipe_ = ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    grown_ = !is_pipe_;
}

std::size_t PipeGauge::bytes_in() const noexcept {
    int n = 0;
    if (::ioctl(fd_, FIONREAD, &n) == -1 || n < 0) return 0;
    return static_cast<std::size_t>(n);
}

bool PipeGauge::grow() noexcept {
    if (grown_) return false;
    grown_ = true;
    const int before = ::fcntl(fd_, F_GETPIPE_SZ);
    return before > 0 && ::fcntl(fd_, F_SETPIPE_SZ, grown_size) > before;
}

}  // namespace smtpproxy
