#include "session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "close_connection.hpp"
#include "descriptors.hpp"
#include "log.hpp"
#include "pump.hpp"
#include "reply_reader.hpp"

namespace smtpproxy {

using namespace smtpauth;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view backend_failed = "421 4.3.0 backend failed\r\n";
constexpr std::string_view backend_closed = "421 4.3.0 backend closed the connection\r\n";
// How large a pipe to PROG grows once the client sends faster than PROG
// reads: fewer, larger moves. Not more, and not before: the pipes of an
// account count against a limit (sysctl fs.pipe-user-pages-soft, 64 MiB by
// default), past which the kernel gives its new pipes two pages.
constexpr int grown_pipe_size = 256 * 1024;
// Without a pidfd (kernels before 5.3), how often to look whether PROG is gone.
constexpr auto reap_interval = std::chrono::seconds(1);

// A descriptor that becomes readable when process `pid` exits; -1 where the
// kernel has none (before 5.3).
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    return -1;
#endif
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Milliseconds from now until `t` for poll(2), rounded up, at least 0.
int ms_until(Clock::time_point t, Clock::time_point now) {
    if (t <= now) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
    return static_cast<int>(std::min<long long>(ms, 24 * 3600 * 1000));
}

// Hang-ups are how sessions end; anything else is logged.
void log_unexpected(int error, std::string_view doing) {
    if (error == 0 || error == EPIPE || error == ECONNRESET || error == EBADF) return;
    log_event("relay", "failed", std::string(doing) + ": " + std::strerror(error));
}

// A pipe the relay writes into: how full it is, for the pacing (see Pacer),
// and its growth.
struct PipeGauge {
    explicit PipeGauge(int fd) : fd_(fd) {
        struct stat st {};
        is_pipe_ = ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
        grown_ = !is_pipe_;
    }
    bool is_pipe() const { return is_pipe_; }
    std::size_t bytes_in() const {
        int n = 0;
        if (::ioctl(fd_, FIONREAD, &n) == -1 || n < 0) return 0;
        return static_cast<std::size_t>(n);
    }
    // Once: true if the pipe has become larger.
    bool grow() {
        if (grown_) return false;
        grown_ = true;
        const int before = ::fcntl(fd_, F_GETPIPE_SZ);
        return before > 0 && ::fcntl(fd_, F_SETPIPE_SZ, grown_pipe_size) > before;
    }

private:
    int fd_;
    bool is_pipe_ = false;
    bool grown_ = false;
};

// One direction of the relay and what it waits for. Its descriptors are
// the session's, closed only once the direction is done.
struct Direction {
    Direction(const int& from_fd, const int& to_fd, std::string first, std::string_view name)
        : from(from_fd), to(to_fd), pump(from_fd, to_fd, std::move(first)), gauge(to_fd),
          what(name) {}

    enum class Wait { none, read, write, pause };

    bool moving() const { return open && wait == Wait::none; }
    bool pausing() const { return open && wait == Wait::pause; }

    const int& from;
    const int& to;
    Pump pump;
    PipeGauge gauge;
    Pacer pacer;
    std::string_view what;
    bool open = true;
    Wait wait = Wait::none;
    Clock::time_point resume;  // of a pause
    std::size_t full = 0;      // bytes in the pipe when the pause began
};

struct Session {
    Session(int in, int out, const Backend& b, Clock::duration timeout)
        : client_in(in), client_out(out), backend_in(b.input), backend_out(b.output),
          pid(b.pid), idle_timeout(timeout) {}

    ~Session() {
        close_streams();
        close_fd(pidfd);
    }

    int client_in;    // bytes from the client
    int client_out;   // bytes to the client
    int backend_in;   // PROG's stdin
    int backend_out;  // PROG's stdout
    int pidfd = -1;   // readable once PROG has exited
    const pid_t pid;
    std::optional<int> wait_status;  // set once PROG is reaped
    const Clock::duration idle_timeout;
    Clock::time_point deadline;

    bool replay_failed = false;
    bool timed_out = false;

    void moved() { deadline = Clock::now() + idle_timeout; }

    void close_streams() {
        close_fd(client_in);
        close_fd(client_out);
        close_fd(backend_in);
        close_fd(backend_out);
    }

    // Reaps PROG if it has exited; true once it has been.
    bool reap() {
        if (wait_status) return true;
        int status = 0;
        pid_t r;
        do r = ::waitpid(pid, &status, WNOHANG);
        while (r == -1 && errno == EINTR);
        if (r == pid) {
            wait_status = status;
        } else if (r == -1) {
            log_event("backend", "failed", std::string("unable to wait for it: ") + std::strerror(errno));
            wait_status = W_EXITCODE(111, 0);
        }
        if (wait_status) close_fd(pidfd);
        return wait_status.has_value();
    }
};

// Waits until `fd` is ready for `events` or the session's deadline passes;
// false on timeout.
bool wait_for(Session& s, int fd, short events) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, ms_until(s.deadline, Clock::now()));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return true;  // the next read or write says what is wrong
    }
}

// ---- replay ---------------------------------------------------------------

struct Replayed {
    bool ok = false;
    // ok: bytes PROG sent after the last hidden reply (should be none);
    // else: what the client is told before the session ends.
    std::string for_client;
};

Replayed failure(std::string_view for_client) { return {false, std::string(for_client)}; }

// Reads PROG's next reply, which the client must not see: it has already had
// smtp_auth's. Only a 2xx may be hidden; any other reply ends the session and
// goes to the client. Bytes read past the reply's end are left in `rest`.
Replayed hide_reply(Session& s, std::string_view what, std::string& rest) {
    s.moved();  // a whole reply within the timeout, however it trickles in
    ReplyReader reader;
    char data[8192];
    for (;;) {
        if (!wait_for(s, s.backend_out, POLLIN)) {
            s.timed_out = true;
            log_event("backend", "timeout", "waiting for its " + std::string(what));
            return failure("");
        }
        ssize_t n;
        do n = ::read(s.backend_out, data, sizeof data);
        while (n == -1 && errno == EINTR);
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) {
            if (n == 0)
                log_event("backend", "failed", "closed its output before its " + std::string(what));
            else
                log_event("backend", "failed", "unable to read its " + std::string(what) + ": " + std::strerror(errno));
            return failure(backend_closed);
        }
        const std::string_view chunk(data, static_cast<std::size_t>(n));
        const std::size_t taken = reader.feed(chunk);
        if (reader.garbage()) {
            log_event("backend", "failed", "its " + std::string(what) + " is not an SMTP reply");
            return failure(backend_failed);
        }
        if (reader.complete()) {
            if (!reader.positive()) {
                log_event("backend", "refused", "its " + std::string(what) + " has code " + std::to_string(reader.code()));
                return failure(reader.bytes());
            }
            rest.assign(chunk.substr(taken));
            return Replayed{true, {}};
        }
    }
}

// Writes all of `data` within the session's deadline; false if it could not.
bool write_all(Session& s, int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(s, fd, POLLOUT))
            continue;
        return false;
    }
    return true;
}

// Hides PROG's greeting, then sends it the client's HELO/EHLO lines that
// smtp_auth answered, one at a time, hiding each reply.
Replayed replay(Session& s, const Handoff& handoff) {
    std::string rest;
    Replayed r = hide_reply(s, "greeting", rest);
    for (const auto& line : handoff.answered) {
        if (!r.ok) return r;
        if (!rest.empty()) {
            // It would be taken for the reply to the next line, and every
            // reply after it would be out of step.
            log_event("backend", "failed", "sent a reply nobody asked for");
            return failure(backend_failed);
        }
        // Should PROG be gone, reading its reply tells how; no need to log here.
        s.moved();
        write_all(s, s.backend_in, line);
        r = hide_reply(s, "reply to a replayed HELO/EHLO", rest);
    }
    if (r.ok) r.for_client = std::move(rest);
    return r;
}

// Tells the client why (unless time ran out: then it is told nothing), and
// leaves PROG one timeout to notice its input is gone and exit.
void end_after_failed_replay(Session& s, const std::string& for_client) {
    s.replay_failed = true;
    if (!s.timed_out && !for_client.empty()) {
        s.moved();
        write_all(s, s.client_out, for_client);
        drain_before_close(s.client_in, s.client_out);
    }
    s.close_streams();
    if (s.timed_out) return;
    s.moved();
    while (!s.reap()) {
        const auto now = Clock::now();
        if (now >= s.deadline) {
            s.timed_out = true;
            log_event("session", "timeout", "idle for SMTPPROXY_TIMEOUT");
            return;
        }
        int wait = ms_until(s.deadline, now);
        if (s.pidfd < 0) wait = std::min(wait, ms_until(now + reap_interval, now));
        pollfd p{s.pidfd, POLLIN, 0};
        ::poll(&p, 1, wait);
    }
}

// ---- relay ----------------------------------------------------------------

// The client hears no more from us: EOF, but it may still talk to PROG.
void end_client_output(Session& s) {
    if (s.client_out < 0) return;
    if (::shutdown(s.client_out, SHUT_WR) == 0) return;
    close_fd(s.client_out);  // not a socket: closing is its EOF
}

// Moves what `d` can move now, a bounded amount so that the other direction
// gets its turn; leaves it waiting for something, or closed.
void advance(Session& s, Direction& d) {
    for (int turn = 0; turn < 16; ++turn) {
        switch (d.pump.step()) {
        case Pump::Step::moved:
            s.moved();
            continue;
        case Pump::Step::eof:
            d.open = false;
            return;
        case Pump::Step::wait_read:
            d.wait = Direction::Wait::read;
            return;
        case Pump::Step::wait_write:
            if (d.gauge.grow()) continue;
            if (d.gauge.is_pipe() && d.pacer.pacing()) {
                d.wait = Direction::Wait::pause;
                d.resume = Clock::now() + d.pacer.pause();
                d.full = d.gauge.bytes_in();
            } else {
                d.wait = Direction::Wait::write;
            }
            return;
        case Pump::Step::retry_later:
            d.wait = Direction::Wait::pause;
            d.resume = Clock::now() + std::chrono::milliseconds(1);
            d.full = 0;
            return;
        case Pump::Step::error:
            log_unexpected(d.pump.error(), "unable to relay " + std::string(d.what));
            d.open = false;
            return;
        }
    }
}

// Both directions at once (PROG may answer pending commands while more of
// them are still being written to it), until both are done and PROG has
// been reaped, or nothing has moved for the idle timeout.
void relay(Session& s, std::string first_output, std::string pending) {
    Direction up(s.client_in, s.backend_in, std::move(pending), "from the client to the backend");
    Direction down(s.backend_out, s.client_out, std::move(first_output),
                   "from the backend to the client");
    bool input_done = false;   // nothing more goes from the client to PROG
    bool output_done = false;  // nothing more goes from PROG to the client
    s.moved();
    for (;;) {
        if (up.moving()) advance(s, up);
        if (down.moving()) advance(s, down);

        if (!down.open && !output_done) {
            // PROG has said all it will, or the client has stopped listening.
            output_done = true;
            close_fd(s.backend_out);
            end_client_output(s);
        }
        if (output_done && s.reap()) up.open = false;  // a silent client must not keep us
        if (!up.open && !input_done) {
            // The client has said all it will, or PROG has stopped listening.
            input_done = true;
            close_fd(s.backend_in);  // PROG sees EOF
        }
        if (input_done && output_done && s.reap()) return;

        // Sleep until a direction can go on, PROG exits, a pause or the
        // idle timeout ends; not at all while a direction is still moving.
        auto now = Clock::now();
        if (!up.moving() && !down.moving() && now >= s.deadline) {
            s.timed_out = true;
            log_event("session", "timeout", "idle for SMTPPROXY_TIMEOUT");
            return;
        }
        pollfd p[3];
        nfds_t n = 0;
        Direction* watched[2] = {};
        for (Direction* d : {&up, &down}) {
            if (!d->open || (d->wait != Direction::Wait::read && d->wait != Direction::Wait::write))
                continue;
            const bool reading = d->wait == Direction::Wait::read;
            watched[n] = d;
            p[n++] = {reading ? d->from : d->to, static_cast<short>(reading ? POLLIN : POLLOUT), 0};
        }
        const nfds_t child = n;
        if (!s.wait_status && s.pidfd >= 0) p[n++] = {s.pidfd, POLLIN, 0};
        auto until = s.deadline;
        for (const Direction* d : {&up, &down}) {
            if (d->pausing()) until = std::min(until, d->resume);
            if (d->moving()) until = now;
        }
        if (!s.wait_status && s.pidfd < 0) until = std::min(until, now + reap_interval);
        const int ready = ::poll(p, n, ms_until(until, now));
        if (ready == -1 && errno != EINTR) {
            log_event("session", "failed", std::string("unable to wait: ") + std::strerror(errno));
            s.timed_out = true;  // ends the session as a timeout would
            return;
        }
        now = Clock::now();
        for (nfds_t i = 0; ready > 0 && i < child; ++i) {
            if (p[i].revents == 0) continue;
            if (watched[i]->wait == Direction::Wait::write) watched[i]->pacer.woke();
            watched[i]->wait = Direction::Wait::none;
        }
        if (ready > 0 && child < n && p[child].revents) s.reap();
        if (!s.wait_status && s.pidfd < 0) s.reap();
        for (Direction* d : {&up, &down}) {
            if (!d->pausing() || now < d->resume) continue;
            if (d->full > 0) d->pacer.drained(d->gauge.bytes_in(), d->full);
            d->wait = Direction::Wait::none;
        }
    }
}

}  // namespace

int run_session(int client_in, int client_out, const Backend& backend,
                const std::optional<Handoff>& handoff, Clock::duration idle_timeout) {
    Session s(client_in, client_out, backend, idle_timeout);
    for (const int fd : {s.client_in, s.client_out, s.backend_in, s.backend_out})
        set_nonblocking(fd);
    s.pidfd = open_pidfd(s.pid);  // none on old kernels: PROG is looked at now and then
    s.moved();

    std::string first_output;
    bool ok = true;
    if (handoff) {
        Replayed r = replay(s, *handoff);
        if (!r.ok) {
            end_after_failed_replay(s, r.for_client);
            ok = false;
        } else {
            first_output = std::move(r.for_client);
        }
    }
    if (ok) relay(s, std::move(first_output), handoff ? handoff->pending : std::string());
    if (ok && !s.timed_out) drain_before_close(s.client_in, s.client_out);
    s.close_streams();

    if (s.timed_out || !s.wait_status) {
        if (!s.wait_status) stop_backend(s.pid);
        return 111;
    }
    const int code = exit_code_of(*s.wait_status);
    return s.replay_failed && code == 0 ? 111 : code;
}

}  // namespace smtpproxy
