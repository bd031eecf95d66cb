#include "verifier.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "log.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

constexpr std::size_t checkpassword_limit = 512;

// A descriptor closed when it goes out of scope.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Waits up to `timeout` for the child; kills its process group if it is
// still there.
// Returns the wait status, or -1 after a timeout.
int wait_with_timeout(pid_t pid, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto time_left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    };
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd.fd >= 0) {
        pollfd p{pidfd.fd, POLLIN, 0};
        for (auto left = time_left(); left.count() > 0; left = time_left()) {
            const int n = ::poll(&p, 1, static_cast<int>(left.count()));
            if (n > 0 || (n < 0 && errno != EINTR)) break;
        }
    } else {
        // Kernels before 5.3 have no pidfd: look every 10 ms.
        for (;;) {
            siginfo_t info{};
            const int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
            if ((r == 0 && info.si_pid != 0) || (r < 0 && errno != EINTR) || time_left().count() <= 0) break;
            ::usleep(10000);
        }
    }
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == pid) return status;
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -1;
}

}  // namespace

Secret checkpassword_payload(const Credentials& c) {
    Secret payload(checkpassword_limit);
    const std::size_t size = c.user.size() + c.secret.size() + c.challenge.size() + 3;
    if (size > checkpassword_limit) return payload;
    for (const std::string_view field : {std::string_view(c.user), c.secret.view(), std::string_view(c.challenge)})
        if (field.find('\0') != std::string_view::npos) return payload;
    auto& s = payload.str();
    s.append(c.user).push_back('\0');
    s.append(c.secret.view()).push_back('\0');
    s.append(c.challenge).push_back('\0');
    return payload;
}

Verdict CheckpasswordVerifier::verify(const Credentials& credentials) {
    using K = Verdict::Kind;
    Secret payload = checkpassword_payload(credentials);
    if (payload.empty()) return {K::rejected, "credentials fd 3 cannot carry (over 512 octets, or a NUL)"};

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return {K::temporary, "pipe failed"};
    Fd pipe_read(p[0]), pipe_write(p[1]);
    Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (devnull.fd < 0) return {K::temporary, "cannot open /dev/null"};

    // Made after the pipe, so above descriptor 3, which the child's dup2
    // gives the credentials.
    const bool reporting = !as_user_.reporter.empty();
    std::optional<ReportSocket> report;
    if (reporting && report.emplace().child < 0) return {K::temporary, "cannot make the report socket"};

    const pid_t pid = ::fork();
    if (pid < 0) return {K::temporary, "fork failed"};
    if (pid == 0) {
        // A group of its own, so that a timeout kills whatever it started.
        ::setpgid(0, 0);
        ::signal(SIGPIPE, SIG_DFL);
        ::dup2(devnull.fd, 0);
        ::dup2(devnull.fd, 1);
        if (pipe_read.fd == 3)
            ::fcntl(3, F_SETFD, 0);  // keep it across exec
        else
            ::dup2(pipe_read.fd, 3);
        if (reporting) {
            ::fcntl(report->child, F_SETFD, 0);
            ::setenv(report_fd_variable, std::to_string(report->child).c_str(), 1);
        }
        const char* argv[] = {program_.c_str(), reporting ? as_user_.reporter.c_str() : "true", nullptr};
        ::execvp(argv[0], const_cast<char* const*>(argv));
        const std::string why = std::strerror(errno);
        log_event("checker", "failed", "unable to run " + program_ + ": " + why);
        ::_exit(111);
    }
    ::setpgid(pid, pid);  // also here: no race with the child's own call
    pipe_read.reset();
    if (report) report->close_child();
    // At most 512 octets: the pipe holds them all, so this never blocks.
    const bool written = write_all(pipe_write.fd, payload.view());
    pipe_write.reset();
    payload.clear();

    const int status = wait_with_timeout(pid, timeout_);
    if (status == -1) return {K::temporary, "checker timed out"};
    if (WIFSIGNALED(status)) return {K::temporary, "checker killed by signal " + std::to_string(WTERMSIG(status))};
    const int code = WEXITSTATUS(status);
    if (code == 0 && written && !reporting) return {K::accepted, ""};
    if (code == 0 && written) {
        const ReportOutcome outcome = receive_report(*report);
        if (!outcome.account) return {K::temporary, outcome.why};
        if (const auto why = refusal(*outcome.account, as_user_.min_uid); !why.empty())
            return {K::forbidden, why};
        return {K::accepted, "", *format_account(*outcome.account)};
    }
    if (code == 0 || code == 111) return {K::temporary, "checker exit " + std::to_string(code)};
    return {K::rejected, "checker exit " + std::to_string(code)};
}

}  // namespace smtp_auth
