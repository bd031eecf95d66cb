#include "verifier.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "descriptors.hpp"
#include "log.hpp"

extern char** environ;

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

// The environment the checker gets: ours, with `extra` ("NAME=value") in
// place of any NAME we have.
std::vector<std::string> environment_with(const std::string& extra) {
    const auto name = extra.substr(0, extra.find('=') + 1);
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
        if (!std::string_view(*e).starts_with(name)) env.emplace_back(*e);
    env.push_back(extra);
    return env;
}

// The checker's wait status, or -1 when it was still running at `deadline`:
// then it and its process group are killed. Its exit is awaited through its
// pidfd, with the timer beside it; no SIGCHLD handler takes part.
asio::awaitable<int> wait_for_exit(pid_t pid, Clock::time_point deadline) {
    const int pidfd = smtpauth::open_pidfd(pid);
    if (pidfd >= 0) {
        asio::posix::stream_descriptor exited(co_await asio::this_coro::executor, pidfd);
        co_await with_deadline(exited, deadline, [&](auto token) {
            return exited.async_wait(asio::posix::descriptor_base::wait_read, token);
        });
    } else {
        // Kernels before 5.3 have no pidfd: look every 10 ms.
        asio::steady_timer tick(co_await asio::this_coro::executor);
        for (;;) {
            siginfo_t info{};
            const int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
            if ((r == 0 && info.si_pid != 0) || (r < 0 && errno != EINTR) || Clock::now() >= deadline) break;
            tick.expires_after(std::chrono::milliseconds(10));
            boost::system::error_code ignored;
            co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
    }
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == pid) co_return status;
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    co_return -1;
}

// posix_spawn's two objects, destroyed however the set-up ends.
struct SpawnSetup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    SpawnSetup() {
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawnattr_init(&attributes);
    }
    ~SpawnSetup() {
        ::posix_spawn_file_actions_destroy(&actions);
        ::posix_spawnattr_destroy(&attributes);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

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

asio::awaitable<Verdict> CheckpasswordVerifier::verify(const Credentials& credentials) {
    using K = Verdict::Kind;
    Secret payload = checkpassword_payload(credentials);
    if (payload.empty()) co_return Verdict{K::rejected, "credentials fd 3 cannot carry (over 512 octets, or a NUL)"};

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) co_return Verdict{K::temporary, "pipe failed"};
    Fd pipe_read(p[0]), pipe_write(p[1]);
    Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (devnull.fd < 0) co_return Verdict{K::temporary, "cannot open /dev/null"};

    // Made after the pipe, so above descriptor 3, which the child's dup2
    // gives the credentials.
    const bool reporting = !as_user_.reporter.empty();
    std::optional<ReportSocket> report;
    if (reporting && report.emplace().child < 0) co_return Verdict{K::temporary, "cannot make the report socket"};

    // posix_spawn: glibc's clone(CLONE_VM | CLONE_VFORK) copies no page
    // tables. The child gets a group of its own (a timeout kills whatever it
    // started), SIGPIPE as it was before we ignored it, /dev/null on fds 0
    // and 1 (a chatty checker cannot talk to the client), the credentials
    // on fd 3. A dup2 onto itself clears close-on-exec, which keeps fd 3 or
    // the report socket across the exec. fds 0 and 1 of our own are still
    // the client's, blocking: Asio owns nothing the checker gets.
    SpawnSetup setup;
    ::posix_spawn_file_actions_adddup2(&setup.actions, devnull.fd, 0);
    ::posix_spawn_file_actions_adddup2(&setup.actions, devnull.fd, 1);
    ::posix_spawn_file_actions_adddup2(&setup.actions, pipe_read.fd, 3);
    if (reporting) ::posix_spawn_file_actions_adddup2(&setup.actions, report->child, report->child);
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    ::posix_spawnattr_setsigdefault(&setup.attributes, &pipe_signal);
    ::posix_spawnattr_setpgroup(&setup.attributes, 0);
    ::posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> env;
    if (reporting) env = environment_with(std::string(report_fd_variable) + "=" + std::to_string(report->child));
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const char* argv[] = {program_.c_str(), reporting ? as_user_.reporter.c_str() : "true", nullptr};
    pid_t pid = -1;
    if (const int error = ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attributes,
                                         const_cast<char* const*>(argv), reporting ? envp.data() : environ)) {
        log_event("checker", "failed", "unable to run " + program_ + ": " + std::strerror(error));
        co_return Verdict{K::temporary, "checker exit 111"};  // what a checker that cannot start says
    }
    pipe_read.reset();
    if (report) report->close_child();
    // At most 512 octets into an empty pipe: one write that never blocks.
    const bool written = ::write(pipe_write.fd, payload.view().data(), payload.size()) ==
                         static_cast<ssize_t>(payload.size());
    pipe_write.reset();
    payload.clear();

    const int status = co_await wait_for_exit(pid, Clock::now() + timeout_);
    if (status == -1) co_return Verdict{K::temporary, "checker timed out"};
    if (WIFSIGNALED(status)) co_return Verdict{K::temporary, "checker killed by signal " + std::to_string(WTERMSIG(status))};
    const int code = WEXITSTATUS(status);
    if (code == 0 && written && !reporting) co_return Verdict{K::accepted, ""};
    if (code == 0 && written) {
        const ReportOutcome outcome = receive_report(*report);
        if (!outcome.account) co_return Verdict{K::temporary, outcome.why};
        if (const auto why = refusal(*outcome.account, as_user_.min_uid); !why.empty())
            co_return Verdict{K::forbidden, why};
        co_return Verdict{K::accepted, "", *format_account(*outcome.account)};
    }
    if (code == 0 || code == 111) co_return Verdict{K::temporary, "checker exit " + std::to_string(code)};
    co_return Verdict{K::rejected, "checker exit " + std::to_string(code)};
}

}  // namespace smtp_auth
