#include "dovecot_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>

namespace smtp_auth {


namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
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

// Starts an operation and a timer beside it; whichever ends first cancels
// the other. `start` gets the completion handler, which takes an error code.
template <class Operation>
void DovecotConnection::run(milliseconds timeout, const char* what, Operation start) {
    if (timeout.count() <= 0) throw DovecotError(std::string(what) + " timed out");
    boost::system::error_code result = asio::error::would_block;
    bool expired = false;
    asio::steady_timer timer(io_, timeout);
    timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: the operation ended first
        expired = true;
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    });
    start([&](const boost::system::error_code& ec) {
        result = ec;
        timer.cancel();
    });
    io_.restart();
    io_.run();
    if (expired) throw DovecotError(std::string(what) + " timed out");
    if (result == asio::error::eof || result == asio::error::connection_reset || result == asio::error::broken_pipe)
        throw DovecotError("connection closed by the peer");
    if (result) throw DovecotError(std::string(what) + ": " + result.message());
}

DovecotConnection::DovecotConnection(const DovecotAddress& address, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    try {
        const auto endpoint = endpoint_of(address);
        socket_.open(endpoint.protocol());
        // Nothing the chain runs may inherit it.
        ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
        run(left_until(deadline), "connect", [&](auto done) { socket_.async_connect(endpoint, done); });
    } catch (const boost::system::system_error& e) {
        throw DovecotError(std::string("connect: ") + e.code().message());
    }
    // Minor version 2: an empty resp= is an empty response, not none.
    send("VERSION\t1\t2\nCPID\t" + std::to_string(::getpid()), left_until(deadline));
    DovecotHandshake handshake;
    for (;;) {
        switch (handshake.feed(receive(left_until(deadline)))) {
            case DovecotHandshake::Status::more: continue;
            case DovecotHandshake::Status::wrong_peer: throw DovecotError("not Dovecot's auth-client service: " + handshake.error());
            case DovecotHandshake::Status::done: mechanisms_ = handshake.mechanisms(); return;
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

void DovecotConnection::send(std::string_view line, milliseconds timeout) {
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(line.data(), line.size()), asio::buffer("\n", 1)};
    run(timeout, "write", [&](auto done) {
        asio::async_write(socket_, buffers, [done](const boost::system::error_code& ec, std::size_t) { done(ec); });
    });
}

std::vector<std::string> DovecotConnection::receive(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string line;
    for (;;) {
        switch (lines_.next(line)) {
            case DovecotLineReader::Status::line: {
                auto fields = dovecot_fields(line);
                if (!fields) throw DovecotError("a line that is not Dovecot's protocol (raw NUL or CR, bad escape)");
                return std::move(*fields);
            }
            case DovecotLineReader::Status::too_long:
                throw DovecotError("a line over " + std::to_string(dovecot_max_line) + " octets");
            case DovecotLineReader::Status::need_more: break;
        }
        std::array<char, 4096> block;
        std::size_t got = 0;
        run(left_until(deadline), "read", [&](auto done) {
            socket_.async_read_some(asio::buffer(block), [&got, done](const boost::system::error_code& ec, std::size_t n) {
                got = n;
                done(ec);
            });
        });
        lines_.append(std::string_view(block.data(), got));
    }
}

}  // namespace smtp_auth
