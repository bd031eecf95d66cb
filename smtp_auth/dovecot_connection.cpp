#include "dovecot_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>

namespace smtp_auth {


using std::chrono::milliseconds;

namespace {

milliseconds left_until(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    return left.count() > 0 ? left : milliseconds(0);
}

asio::generic::stream_protocol::endpoint endpoint_of(const DovecotAddress& a) {
    if (!a.path.empty()) return asio::local::stream_protocol::endpoint(a.path);
    return asio::ip::tcp::endpoint(asio::ip::make_address(a.host), a.port);
}

}  // namespace

// An operation with the timer beside it; its end turned into DovecotError.
template <class Start>
asio::awaitable<std::size_t> DovecotConnection::run(milliseconds timeout, const char* what, Start start) {
    if (timeout.count() <= 0) throw DovecotError(std::string(what) + " timed out");
    const auto r = co_await with_deadline(socket_, Clock::now() + timeout, start);
    if (r.error == asio::error::timed_out) throw DovecotError(std::string(what) + " timed out");
    if (r.error == asio::error::eof || r.error == asio::error::connection_reset || r.error == asio::error::broken_pipe)
        throw DovecotError("connection closed by the peer");
    if (r.error) throw DovecotError(std::string(what) + ": " + r.error.message());
    co_return r.bytes;
}

asio::awaitable<std::unique_ptr<DovecotConnection>> DovecotConnection::open(const DovecotAddress& address,
                                                                             milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    auto c = std::make_unique<DovecotConnection>(co_await asio::this_coro::executor);
    auto& socket = c->socket_;
    asio::generic::stream_protocol::endpoint endpoint;
    try {
        endpoint = endpoint_of(address);
        socket.open(endpoint.protocol());
    } catch (const boost::system::system_error& e) {
        throw DovecotError(std::string("connect: ") + e.code().message());
    }
    // Nothing the chain runs may inherit it.
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    co_await c->run(left_until(deadline), "connect", [&](auto token) { return socket.async_connect(endpoint, token); });
    // Minor version 2: an empty resp= is an empty response, not none.
    co_await c->send("VERSION\t1\t2\nCPID\t" + std::to_string(::getpid()), left_until(deadline));
    DovecotHandshake handshake;
    for (;;) {
        switch (handshake.feed(co_await c->receive(left_until(deadline)))) {
            case DovecotHandshake::Status::more: continue;
            case DovecotHandshake::Status::wrong_peer:
                throw DovecotError("not Dovecot's auth-client service: " + handshake.error());
            case DovecotHandshake::Status::done: c->mechanisms_ = handshake.mechanisms(); co_return c;
        }
    }
}

DovecotConnection::~DovecotConnection() {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

bool DovecotConnection::idle_and_open() {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

asio::awaitable<void> DovecotConnection::send(std::string_view line, milliseconds timeout) {
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(line.data(), line.size()), asio::buffer("\n", 1)};
    co_await run(timeout, "write", [&](auto token) { return asio::async_write(socket_, buffers, token); });
}

asio::awaitable<std::vector<std::string>> DovecotConnection::receive(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string line;
    for (;;) {
        switch (lines_.next(line)) {
            case DovecotLineReader::Status::line: {
                auto fields = dovecot_fields(line);
                if (!fields) throw DovecotError("a line that is not Dovecot's protocol (raw NUL or CR, bad escape)");
                co_return std::move(*fields);
            }
            case DovecotLineReader::Status::too_long:
                throw DovecotError("a line over " + std::to_string(dovecot_max_line) + " octets");
            case DovecotLineReader::Status::need_more: break;
        }
        std::array<char, 4096> block;
        const std::size_t got = co_await run(left_until(deadline), "read", [&](auto token) {
            return socket_.async_read_some(asio::buffer(block), token);
        });
        lines_.append(std::string_view(block.data(), got));
    }
}

}  // namespace smtp_auth
