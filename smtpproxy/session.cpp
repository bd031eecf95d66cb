#include "session.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/redirect_error.hpp>

#include "log.hpp"
#include "reply_reader.hpp"

namespace smtpauth {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::string_view program = "smtpproxy";
constexpr std::size_t buffer_size = 64 * 1024;
constexpr std::string_view backend_failed = "421 4.3.0 backend failed\r\n";
constexpr std::string_view backend_closed = "421 4.3.0 backend closed the connection\r\n";

struct Session {
    explicit Session(asio::io_context& io, pid_t backend_pid, Clock::duration timeout)
        : client_in(io), client_out(io), backend_in(io), backend_out(io),
          child_signal(io, SIGCHLD), watchdog(io), pid(backend_pid), idle_timeout(timeout) {}

    asio::posix::stream_descriptor client_in;    // bytes from the client
    asio::posix::stream_descriptor client_out;   // bytes to the client
    asio::posix::stream_descriptor backend_in;   // PROG's stdin
    asio::posix::stream_descriptor backend_out;  // PROG's stdout
    asio::signal_set child_signal;
    asio::steady_timer watchdog;
    const pid_t pid;
    std::optional<int> wait_status;  // set once PROG is reaped
    const Clock::duration idle_timeout;
    Clock::time_point deadline;

    bool replaying = false;
    bool replay_failed = false;
    bool input_done = false;   // nothing more goes from the client to PROG
    bool output_done = false;  // nothing more goes from PROG to the client
    bool timed_out = false;
    bool finished = false;

    // Every descriptor ends up owned by its stream_descriptor or closed.
    void attach(int in, int out, const Backend& backend) {
        error_code first;
        adopt(client_in, in, first);
        adopt(client_out, out, first);
        adopt(backend_in, backend.input, first);
        adopt(backend_out, backend.output, first);
        if (first) throw boost::system::system_error(first, "unable to watch a descriptor");
    }

    void moved() { deadline = Clock::now() + idle_timeout; }

    void close_all() {
        error_code ignored;
        client_in.close(ignored);
        client_out.close(ignored);
        backend_in.close(ignored);
        backend_out.close(ignored);
    }

    // The session is over when both directions are and PROG has been reaped.
    void finish_if_done() {
        if (finished || !input_done || !output_done || !wait_status) return;
        finished = true;
        error_code ignored;
        watchdog.cancel(ignored);
        child_signal.cancel(ignored);
    }

private:
    static void adopt(asio::posix::stream_descriptor& d, int fd, error_code& first) {
        error_code ec;
        d.assign(fd, ec);
        if (!ec) d.non_blocking(true, ec);
        if (ec && !d.is_open()) ::close(fd);
        if (ec && !first) first = ec;
    }
};

// Hang-ups and our own closing are how sessions end; anything else is logged.
void log_unexpected(const error_code& ec, std::string_view doing) {
    if (!ec || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::bad_descriptor || ec == asio::error::broken_pipe ||
        ec == asio::error::connection_reset)
        return;
    log_line(program, std::string(doing) + ": " + ec.message());
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
awaitable<Replayed> hide_reply(Session& s, std::string_view what, std::string& rest) {
    s.moved();  // a whole reply within the timeout, however it trickles in
    ReplyReader reader;
    std::vector<char> data(buffer_size);
    for (;;) {
        error_code ec;
        const std::size_t n = co_await s.backend_out.async_read_some(
            asio::buffer(data), redirect_error(use_awaitable, ec));
        if (s.timed_out) co_return failure("");  // the watchdog has logged it
        if (ec) {
            if (ec == asio::error::eof)
                log_line(program, "backend closed its output before its " + std::string(what));
            else
                log_line(program, "unable to read the backend's " + std::string(what) + ": " +
                                      ec.message());
            co_return failure(backend_closed);
        }
        const std::string_view chunk(data.data(), n);
        const std::size_t taken = reader.feed(chunk);
        if (reader.garbage()) {
            log_line(program, "backend's " + std::string(what) + " is not an SMTP reply");
            co_return failure(backend_failed);
        }
        if (reader.complete()) {
            if (!reader.positive()) {
                log_line(program, "backend's " + std::string(what) + " has code " +
                                      std::to_string(reader.code()) + ", ending the session");
                co_return failure(reader.bytes());
            }
            rest.assign(chunk.substr(taken));
            co_return Replayed{true, {}};
        }
    }
}

// Hides PROG's greeting, then sends it the client's HELO/EHLO lines that
// smtp_auth answered, one at a time, hiding each reply.
awaitable<Replayed> replay(Session& s, const Handoff& handoff) {
    std::string rest;
    Replayed r = co_await hide_reply(s, "greeting", rest);
    for (const auto& line : handoff.answered) {
        if (!r.ok) co_return r;
        if (!rest.empty()) {
            // It would be taken for the reply to the next line, and every
            // reply after it would be out of step.
            log_line(program, "backend sent a reply nobody asked for");
            co_return failure(backend_failed);
        }
        // Should PROG be gone, reading its reply tells how; no need to log here.
        error_code ignored;
        co_await asio::async_write(s.backend_in, asio::buffer(line),
                                   redirect_error(use_awaitable, ignored));
        r = co_await hide_reply(s, "reply to a replayed HELO/EHLO", rest);
    }
    if (r.ok) r.for_client = std::move(rest);
    co_return r;
}

// Tells the client why (unless time ran out: then it is told nothing), and
// leaves PROG to notice its input is gone and exit.
awaitable<void> end_after_failed_replay(Session& s, std::string for_client) {
    s.replay_failed = true;
    error_code ignored;
    if (!s.timed_out && !for_client.empty())
        co_await asio::async_write(s.client_out, asio::buffer(for_client),
                                   redirect_error(use_awaitable, ignored));
    s.close_all();
    s.input_done = s.output_done = true;
    s.moved();  // PROG gets one timeout to exit
    s.finish_if_done();
}

// ---- relay ----------------------------------------------------------------

// The client hears no more from us: EOF, but it may still talk to PROG.
void end_client_output(Session& s) {
    error_code ignored;
    if (!s.client_out.is_open()) return;
    if (::shutdown(s.client_out.native_handle(), SHUT_WR) == 0) return;
    s.client_out.close(ignored);  // not a socket: closing is its EOF
}

// PROG -> client, starting with `first`.
awaitable<void> backend_to_client(Session& s, std::string first) {
    error_code ec;
    if (!first.empty()) {
        co_await asio::async_write(s.client_out, asio::buffer(first),
                                   redirect_error(use_awaitable, ec));
        s.moved();
    }
    std::vector<char> data(buffer_size);
    while (!ec) {
        const std::size_t n = co_await s.backend_out.async_read_some(
            asio::buffer(data), redirect_error(use_awaitable, ec));
        if (ec) {
            log_unexpected(ec, "unable to read from the backend");
            break;
        }
        s.moved();
        co_await asio::async_write(s.client_out, asio::buffer(data.data(), n),
                                   redirect_error(use_awaitable, ec));
        log_unexpected(ec, "unable to write to the client");
        s.moved();
    }
    // PROG has said all it will, or the client has stopped listening.
    error_code ignored;
    s.backend_out.close(ignored);
    end_client_output(s);
    s.output_done = true;
    // A silent client must not keep us once PROG is gone.
    if (s.wait_status) s.client_in.close(ignored);
    s.finish_if_done();
}

// Client -> PROG, starting with `pending`.
awaitable<void> client_to_backend(Session& s, std::string pending) {
    error_code ec;
    if (!pending.empty()) {
        co_await asio::async_write(s.backend_in, asio::buffer(pending),
                                   redirect_error(use_awaitable, ec));
        log_unexpected(ec, "unable to write to the backend");
        s.moved();
    }
    std::vector<char> data(buffer_size);
    while (!ec) {
        const std::size_t n = co_await s.client_in.async_read_some(
            asio::buffer(data), redirect_error(use_awaitable, ec));
        if (ec) {
            log_unexpected(ec, "unable to read from the client");
            break;
        }
        s.moved();
        co_await asio::async_write(s.backend_in, asio::buffer(data.data(), n),
                                   redirect_error(use_awaitable, ec));
        log_unexpected(ec, "unable to write to the backend");
        s.moved();
    }
    // The client has said all it will, or PROG has stopped listening.
    error_code ignored;
    s.backend_in.close(ignored);  // PROG sees EOF
    s.client_in.close(ignored);
    s.input_done = true;
    s.finish_if_done();
}

// ---- the session ----------------------------------------------------------

void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

awaitable<void> serve(Session& s, const std::optional<Handoff>& handoff) {
    std::string first_output;
    if (handoff) {
        s.replaying = true;
        Replayed r = co_await replay(s, *handoff);
        s.replaying = false;
        if (!r.ok) {
            co_await end_after_failed_replay(s, std::move(r.for_client));
            co_return;
        }
        first_output = std::move(r.for_client);
    }
    s.moved();
    // Both directions at once: PROG may answer pending commands while more
    // of them are still being written to it.
    const auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, backend_to_client(s, std::move(first_output)), rethrow);
    asio::co_spawn(executor, client_to_backend(s, handoff ? handoff->pending : std::string()),
                   rethrow);
}

// Reaps PROG when SIGCHLD says it may have exited.
awaitable<void> watch_backend(Session& s) {
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(s.pid, &status, WNOHANG);
        if (r == s.pid) {
            s.wait_status = status;
            break;
        }
        if (r == -1 && errno != EINTR) {
            log_line(program, std::string("unable to wait for the backend: ") + std::strerror(errno));
            s.wait_status = W_EXITCODE(111, 0);
            break;
        }
        error_code ec;
        co_await s.child_signal.async_wait(redirect_error(use_awaitable, ec));
        if (ec || s.finished) co_return;  // the session is over
    }
    // PROG's output has ended and PROG is gone: stop waiting for the client.
    if (s.output_done) {
        error_code ignored;
        s.client_in.close(ignored);
    }
    s.finish_if_done();
}

// Ends the session when no byte has moved for idle_timeout (during the
// replay: when PROG has not given a complete reply in time).
awaitable<void> watch_idle(Session& s) {
    while (!s.finished) {
        if (Clock::now() >= s.deadline) {
            s.timed_out = true;
            log_line(program, s.replaying ? "timeout waiting for the backend's reply"
                                          : "timeout: session idle");
            s.close_all();
            s.finished = true;
            error_code ignored;
            s.child_signal.cancel(ignored);
            co_return;
        }
        s.watchdog.expires_at(s.deadline);
        error_code ignored;
        co_await s.watchdog.async_wait(redirect_error(use_awaitable, ignored));
    }
}

}  // namespace

int run_session(int client_in, int client_out, const Backend& backend,
                const std::optional<Handoff>& handoff, Clock::duration idle_timeout) {
    asio::io_context io;
    Session s(io, backend.pid, idle_timeout);
    try {
        s.attach(client_in, client_out, backend);
        s.moved();
        asio::co_spawn(io, watch_backend(s), rethrow);
        asio::co_spawn(io, watch_idle(s), rethrow);
        asio::co_spawn(io, serve(s, handoff), rethrow);
        io.run();
    } catch (const std::exception& e) {
        log_line(program, std::string("internal error: ") + e.what());
        s.close_all();
        if (!s.wait_status) stop_backend(s.pid);
        return 111;
    }
    if (s.timed_out || !s.wait_status) {
        if (!s.wait_status) stop_backend(s.pid);
        return 111;
    }
    const int code = exit_code_of(*s.wait_status);
    return s.replay_failed && code == 0 ? 111 : code;
}

}  // namespace smtpauth
