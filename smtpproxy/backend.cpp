#include "backend.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "descriptors.hpp"

namespace smtpproxy {

using namespace smtpauth;

namespace {

void close_pair(int fds[2]) {
    ::close(fds[0]);
    ::close(fds[1]);
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void become_backend(char* const argv[], int stdin_fd, int stdout_fd,
                                 int exec_error) {
    if (::dup2(stdin_fd, 0) == -1 || ::dup2(stdout_fd, 1) == -1) {
        const int e = errno;
        (void)!::write(exec_error, &e, sizeof e);
        ::_exit(111);
    }
    // Whatever we inherited or opened (a pidfd, a checker's leftovers)
    // must not reach PROG.
    close_on_exec_from_3();
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv);
    const int e = errno;
    (void)!::write(exec_error, &e, sizeof e);
    ::_exit(111);
}

pid_t wait_for(pid_t pid, int& status, int options) {
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, options);
        if (r != -1 || errno != EINTR) return r;
    }
}

}  // namespace

std::optional<Backend> start_backend(char* const argv[], std::string& error) {
    int to_backend[2];
    int from_backend[2];
    int exec_error[2];  // carries errno if exec fails; closed by a successful exec
    if (::pipe2(to_backend, O_CLOEXEC) == -1) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    if (::pipe2(from_backend, O_CLOEXEC) == -1) {
        error = std::strerror(errno);
        close_pair(to_backend);
        return std::nullopt;
    }
    if (::pipe2(exec_error, O_CLOEXEC) == -1) {
        error = std::strerror(errno);
        close_pair(to_backend);
        close_pair(from_backend);
        return std::nullopt;
    }

    const pid_t pid = ::fork();
    if (pid == 0) become_backend(argv, to_backend[0], from_backend[1], exec_error[1]);
    const int fork_errno = errno;
    if (pid > 0) ::setpgid(pid, pid);  // as the child does: whichever runs first
    ::close(to_backend[0]);
    ::close(from_backend[1]);
    ::close(exec_error[1]);
    if (pid == -1) {
        error = std::strerror(fork_errno);
        ::close(to_backend[1]);
        ::close(from_backend[0]);
        ::close(exec_error[0]);
        return std::nullopt;
    }

    int exec_errno = 0;
    ssize_t n;
    do n = ::read(exec_error[0], &exec_errno, sizeof exec_errno);
    while (n == -1 && errno == EINTR);
    ::close(exec_error[0]);
    if (n != 0) {  // not closed by exec: the child reported a failure
        error = n == static_cast<ssize_t>(sizeof exec_errno) ? std::strerror(exec_errno)
                                                              : "unable to start";
        ::close(to_backend[1]);
        ::close(from_backend[0]);
        int status;
        wait_for(pid, status, 0);
        return std::nullopt;
    }
    return Backend{pid, to_backend[1], from_backend[0]};
}

// PROG's process group takes whatever PROG started along with it.
void signal_backend(pid_t pid, int signal) {
    if (::kill(-pid, signal) == -1) ::kill(pid, signal);
}

int stop_backend(pid_t pid) {
    int status = 0;
    signal_backend(pid, SIGTERM);
    // 2 seconds, in steps that cost nothing while PROG takes its time.
    for (int step = 0; step < 100; ++step) {
        if (wait_for(pid, status, WNOHANG) == pid) return status;
        ::usleep(20000);
    }
    signal_backend(pid, SIGKILL);
    if (wait_for(pid, status, 0) == pid) return status;
    return 0;
}

}  // namespace smtpproxy
