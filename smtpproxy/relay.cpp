#include "relay.hpp"

#include <boost/asio/post.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include "log.hpp"
#include "pipe_gauge.hpp"
#include "pump.hpp"

namespace smtpproxy {

namespace {

using Wait = asio::posix::descriptor_base::wait_type;

// Hang-ups are how sessions end; anything else is logged.
void log_unexpected(int error, std::string_view doing) {
    if (error == 0 || error == EPIPE || error == ECONNRESET || error == EBADF) return;
    smtpauth::log_event("relay", "failed", std::string(doing) + ": " + std::strerror(error));
}

// One way of the relay. Its streams are the session's, closed only once
// this way is done.
struct Direction {
    Direction(Stream& from_stream, Stream& to_stream, std::string first, std::string_view name)
        : from(from_stream), to(to_stream), pump(from.fd(), to.fd(), std::move(first)),
          gauge(to.fd()), pause(from.get_executor()), what(name) {}

    // What stops it now.
    enum class Next { go_on, read, write, pause, done };

    // Ends it early: PROG is gone and says no more, so a silent client
    // must not keep the session.
    void stop() {
        open = false;
        Error ignored;
        if (from.is_open()) from.cancel(ignored);
        if (to.is_open()) to.cancel(ignored);
        pause.cancel();
    }

    Stream& from;
    Stream& to;
    Pump pump;
    PipeGauge gauge;
    Pacer pacer;
    asio::steady_timer pause;
    std::size_t full = 0;  // bytes in the pipe when a pause began
    std::string_view what;
    bool open = true;
};

class Relay {
public:
    Relay(Session& s, std::string first_output, std::string pending)
        : s_(s), up_(s.client_in, s.backend_in, std::move(pending), "from the client to the backend"),
          down_(s.backend_out, s.client_out, std::move(first_output),
                "from the backend to the client") {}

    static void start(std::shared_ptr<Relay> relay) {
        auto& io = relay->s_.io;
        asio::co_spawn(io, relay->run_up(relay), asio::detached);
        asio::co_spawn(io, relay->run_down(relay), asio::detached);
        asio::co_spawn(io, relay->await_backend(relay), asio::detached);
    }

private:
    using Next = Direction::Next;

    asio::awaitable<void> run_up(std::shared_ptr<Relay>) {
        co_await run(up_);
        // The client has said all it will, or PROG has stopped listening.
        input_done_ = true;
        s_.backend_in.close();  // PROG sees EOF
        finish_if_done();
    }

    asio::awaitable<void> run_down(std::shared_ptr<Relay>) {
        co_await run(down_);
        // PROG has said all it will, or the client has stopped listening.
        output_done_ = true;
        s_.backend_out.close();
        end_client_output();
        if (s_.backend.wait_status()) up_.stop();
        finish_if_done();
    }

    asio::awaitable<void> await_backend(std::shared_ptr<Relay>) {
        co_await s_.backend.reaped();
        if (!s_.backend.wait_status()) co_return;  // cancelled
        if (output_done_) up_.stop();
        finish_if_done();
    }

    void finish_if_done() {
        if (input_done_ && output_done_ && s_.backend.wait_status()) s_.idle.stop();
    }

    // The client hears no more from us: EOF, but it may still talk to PROG.
    void end_client_output() {
        if (!s_.client_out.is_open()) return;
        if (::shutdown(s_.client_out.fd(), SHUT_WR) == 0) return;
        s_.client_out.close_as_is();  // not a socket: closing is its EOF
    }

    asio::awaitable<void> run(Direction& d) {
        while (d.open) {
            Error error;
            switch (advance(d)) {
            case Next::go_on:  // the other way's turn first
                co_await asio::post(s_.io, asio::use_awaitable);
                break;
            case Next::read:
                co_await d.from.async_wait(Wait::wait_read, into(error));
                break;
            case Next::write:
                co_await d.to.async_wait(Wait::wait_write, into(error));
                if (!error) d.pacer.woke();
                break;
            case Next::pause:
                co_await d.pause.async_wait(into(error));
                if (d.open && d.full > 0) d.pacer.drained(d.gauge.bytes_in(), d.full);
                break;
            case Next::done:
                d.open = false;
                break;
            }
        }
    }

    // Moves what `d` can move now, a bounded amount so that the other way
    // gets its turn; says what to wait for.
    Next advance(Direction& d) {
        for (int turn = 0; turn < 16; ++turn) {
            switch (d.pump.step()) {
            case Pump::Step::moved:
                s_.idle.moved();
                continue;
            case Pump::Step::eof:
                return Next::done;
            case Pump::Step::wait_read:
                return Next::read;
            case Pump::Step::wait_write:
                if (d.gauge.grow()) continue;
                if (!d.gauge.is_pipe() || !d.pacer.pacing()) return Next::write;
                d.full = d.gauge.bytes_in();
                d.pause.expires_after(d.pacer.pause());
                return Next::pause;
            case Pump::Step::retry_later:
                d.full = 0;
                d.pause.expires_after(std::chrono::milliseconds(1));
                return Next::pause;
            case Pump::Step::error:
                log_unexpected(d.pump.error(), "unable to relay " + std::string(d.what));
                return Next::done;
            }
        }
        return Next::go_on;
    }

    Session& s_;
    Direction up_;
    Direction down_;
    bool input_done_ = false;   // nothing more goes from the client to PROG
    bool output_done_ = false;  // nothing more goes from PROG to the client
};

}  // namespace

void start_relay(Session& s, std::string first_output, std::string pending) {
    s.idle.moved();
    Relay::start(std::make_shared<Relay>(s, std::move(first_output), std::move(pending)));
}

}  // namespace smtpproxy
