#include "session.hpp"

#include <boost/asio/write.hpp>

#include "close_connection.hpp"
#include "log.hpp"
#include "relay.hpp"
#include "replay.hpp"
#include "session_state.hpp"
#include "wait_status.hpp"

namespace smtpproxy {

namespace {

// Ends the session when nothing has moved for the idle timeout, or when
// PROG has not replied in time: whatever waits is left waiting.
asio::awaitable<void> watch_idle(Session& s) {
    // Not `if (!co_await ...)`: g++ 12 miscompiles a co_await in a condition.
    const bool passed = co_await s.idle.passed();
    if (!passed) co_return;
    s.timed_out = true;
    smtpauth::log_event(s.timeout_message.event, "timeout", s.timeout_message.detail);
    s.io.stop();
}

// After a refused replay: tells the client why, and leaves PROG one timeout
// to notice its input is gone and exit.
asio::awaitable<void> end_after_failed_replay(Session& s, std::string for_client) {
    s.replay_failed = true;
    if (!for_client.empty()) {
        s.idle.moved();
        Error ignored;
        co_await asio::async_write(s.client_out, asio::buffer(for_client), into(ignored));
        smtpauth::drain_before_close(s.client_in.fd(), s.client_out.fd());
    }
    s.close_streams();
    s.idle.moved();
    co_await s.backend.reaped();
    s.idle.stop();
}

asio::awaitable<void> begin(Session& s, const std::optional<smtpauth::Handoff>& handoff) {
    if (!handoff) {
        start_relay(s, {}, {});
        co_return;
    }
    Replayed r = co_await replay(s, *handoff);
    s.timeout_message = session_idle;
    if (!r.ok) {
        if (s.timed_out) co_return;
        co_await end_after_failed_replay(s, std::move(r.for_client));
        co_return;
    }
    start_relay(s, std::move(r.for_client), handoff->pending);
}

}  // namespace

int run_session(int client_in, int client_out, const Backend& backend,
                const std::optional<smtpauth::Handoff>& handoff, Clock::duration idle_timeout) {
    Session s(client_in, client_out, backend, idle_timeout);
    asio::co_spawn(s.io, watch_idle(s), asio::detached);
    asio::co_spawn(s.io, begin(s, handoff), asio::detached);
    s.io.run();

    if (!s.timed_out && !s.replay_failed)
        smtpauth::drain_before_close(s.client_in.fd(), s.client_out.fd());
    s.close_streams();

    const auto& status = s.backend.wait_status();
    if (s.timed_out || !status) {
        if (!status) stop_backend(s.backend.pid());
        return 111;
    }
    const int code = smtpauth::exit_code_of(*status);
    return s.replay_failed && code == 0 ? 111 : code;
}

}  // namespace smtpproxy
