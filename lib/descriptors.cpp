#include "descriptors.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace smtpauth {

void close_on_exec_from_3() noexcept {
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    // Kernels before 5.11: the slow way, bounded.
    rlimit limit{};
    rlim_t last = 1024;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) last = limit.rlim_cur;
    if (last > 65536) last = 65536;
    for (int fd = 3; fd < static_cast<int>(last); ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

}  // namespace smtpauth
