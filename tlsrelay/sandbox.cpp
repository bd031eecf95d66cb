#include "sandbox.hpp"

#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <initializer_list>

namespace tlsrelay {

namespace {

// The relay (relay.cpp) and what follows it (main.cpp): read/write and
// OpenSSL's record layer on the two sockets; Asio's select reactor, which
// waits in pselect6 (glibc's select) and is woken through its eventfd
// (read, write); shutdown, the drain before close (ioctl FIONREAD, recv,
// poll), a log line on fd 2, close, waiting for the session, exit. malloc's
// memory calls; getpid and getrandom for OpenSSL's random generator (a CBC
// record's IV; its fork check, its reseed); clock_gettime where the vDSO is
// not used. Found by reading the code and by strace -f -c of whole sessions
// (README, "The TLS relay's sandbox").
constexpr int allowed[] = {
    SCMP_SYS(read),         SCMP_SYS(write),       SCMP_SYS(readv),         SCMP_SYS(writev),
    SCMP_SYS(recvfrom),     SCMP_SYS(sendto),      SCMP_SYS(poll),          SCMP_SYS(ppoll),
    SCMP_SYS(select),       SCMP_SYS(pselect6),
    SCMP_SYS(shutdown),     SCMP_SYS(close),       SCMP_SYS(wait4),         SCMP_SYS(exit_group),
    SCMP_SYS(exit),         SCMP_SYS(rt_sigreturn), SCMP_SYS(brk),          SCMP_SYS(munmap),
    SCMP_SYS(mremap),       SCMP_SYS(madvise),     SCMP_SYS(futex),         SCMP_SYS(getpid),
    SCMP_SYS(getrandom),    SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(restart_syscall),
#if defined(__SANITIZE_ADDRESS__)
    // The ASan+UBSan build only: the sanitizer runtime's own calls (its
    // allocator, its reports), so that a report is written, not killed.
    SCMP_SYS(mprotect),     SCMP_SYS(gettid),      SCMP_SYS(sched_yield),   SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(openat),     SCMP_SYS(readlink),
    SCMP_SYS(fstat),        SCMP_SYS(newfstatat),  SCMP_SYS(getppid),       SCMP_SYS(prctl),
    SCMP_SYS(tgkill),       SCMP_SYS(uname),       SCMP_SYS(lseek),         SCMP_SYS(pread64),
    // UBSan's vptr check, on Asio's polymorphic operations, probes memory
    // through a pipe.
    SCMP_SYS(pipe2),        SCMP_SYS(pipe),
#endif
};

class Filter {
public:
    Filter() : ctx_(seccomp_init(SCMP_ACT_KILL_PROCESS)) {}
    ~Filter() { seccomp_release(ctx_); }
    Filter(const Filter&) = delete;
    Filter& operator=(const Filter&) = delete;

    bool build() {
        if (!ctx_) return false;
        for (const int call : allowed)
            if (seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, call, 0) != 0) return false;
        // Memory, but never executable memory.
        if (seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0)
            return false;
        // ioctl for FIONREAD only (drain_before_close).
        return seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(FIONREAD))) == 0;
    }
    bool load() { return seccomp_load(ctx_) == 0; }

private:
    scmp_filter_ctx ctx_;
};

bool limit(int resource, rlim_t value) {
    const rlimit l{value, value};
    return ::setrlimit(resource, &l) == 0;
}

}  // namespace

bool sandbox_relay() {
    // select(2) and poll(2) fail for descriptors past RLIMIT_NOFILE: the
    // relay holds six (0 to 3, Asio's eventfd, the session's pidfd).
    constexpr rlim_t max_files = 8;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    if (!limit(RLIMIT_CORE, 0) || !limit(RLIMIT_NPROC, 0) || !limit(RLIMIT_NOFILE, max_files)) return false;
    Filter filter;
    return filter.build() && filter.load();
}

}  // namespace tlsrelay
