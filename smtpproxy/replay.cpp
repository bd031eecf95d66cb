#include "replay.hpp"

#include <boost/asio/write.hpp>

#include <cstring>
#include <string_view>

#include "log.hpp"
#include "reply_reader.hpp"

namespace smtpproxy {

using smtpauth::log_event;

namespace {

constexpr std::string_view backend_failed = "421 4.3.0 backend failed\r\n";
constexpr std::string_view backend_closed = "421 4.3.0 backend closed the connection\r\n";

Replayed failure(std::string_view for_client) { return {false, std::string(for_client)}; }

// Reads PROG's next reply and hides it. Bytes read past the reply's end are
// left in `rest`.
asio::awaitable<Replayed> hide_reply(Session& s, std::string_view what, std::string& rest) {
    s.idle.moved();  // a whole reply within the timeout, however it trickles in
    ReplyReader reader;
    char data[8192];
    for (;;) {
        Error error;
        const std::size_t n =
            co_await s.backend_out.async_read_some(asio::buffer(data), into(error));
        if (error == asio::error::operation_aborted) co_return failure("");  // timed out
        if (error) {
            if (error == asio::error::eof)
                log_event("backend", "failed", "closed its output before its " + std::string(what));
            else
                log_event("backend", "failed", "unable to read its " + std::string(what) + ": " + error.message());
            co_return failure(backend_closed);
        }
        const std::string_view chunk(data, n);
        const std::size_t taken = reader.feed(chunk);
        if (reader.garbage()) {
            log_event("backend", "failed", "its " + std::string(what) + " is not an SMTP reply");
            co_return failure(backend_failed);
        }
        if (reader.complete()) {
            if (!reader.positive()) {
                log_event("backend", "refused", "its " + std::string(what) + " has code " + std::to_string(reader.code()));
                co_return failure(reader.bytes());
            }
            rest.assign(chunk.substr(taken));
            co_return Replayed{true, {}};
        }
    }
}

}  // namespace

asio::awaitable<Replayed> replay(Session& s, const smtpauth::Handoff& handoff) {
    s.timeout_message = {"backend", "waiting for its reply"};
    std::string rest;
    Replayed r = co_await hide_reply(s, "greeting", rest);
    for (const auto& line : handoff.answered) {
        if (!r.ok) break;
        if (!rest.empty()) {
            // It would be taken for the reply to the next line, and every
            // reply after it would be out of step.
            log_event("backend", "failed", "sent a reply nobody asked for");
            co_return failure(backend_failed);
        }
        // Should PROG be gone, reading its reply tells how; no need to look here.
        s.idle.moved();
        Error ignored;
        co_await asio::async_write(s.backend_in, asio::buffer(line), into(ignored));
        r = co_await hide_reply(s, "reply to a replayed HELO/EHLO", rest);
    }
    if (r.ok) r.for_client = std::move(rest);
    co_return r;
}

}  // namespace smtpproxy
