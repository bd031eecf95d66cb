// FdChannel on real descriptors: its writes are bounded in time, whatever
// the size of the reply, and the descriptors leave Asio as they came.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "client_io.hpp"
#include "scripted_client.hpp"

using namespace smtpauth;
using namespace smtp_auth;
using namespace smtp_auth::test;

namespace {

bool nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

}  // namespace

TEST_CASE("a reply nobody reads gives up after its timeout, and the descriptor is blocking again") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const int small = 4096;
    ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    asio::io_context io(1);
    {
        FdChannel channel(io, pair[0], pair[0]);
        const std::string reply(4 << 20, 'x');  // far more than both socket buffers hold
        const auto started = std::chrono::steady_clock::now();
        CHECK_FALSE(run_to_end(io, channel.write_all(reply, std::chrono::milliseconds(300))));
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK(took >= std::chrono::milliseconds(250));
        CHECK(took < std::chrono::seconds(3));
        CHECK(nonblocking(pair[0]));  // Asio's, while it owns it
        channel.release();
        CHECK_FALSE(nonblocking(pair[0]));
    }
    CHECK_FALSE(nonblocking(pair[0]));
    ::close(pair[0]);
    ::close(pair[1]);
}

TEST_CASE("reads and writes on two descriptors; a read waits no longer than its timeout") {
    int in[2], out[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, in) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, out) == 0);
    asio::io_context io(1);
    FdChannel channel(io, in[0], out[0]);
    char buffer[64];
    CHECK(run_to_end(io, channel.read_some(buffer, sizeof buffer, std::chrono::milliseconds(100))) == -2);
    REQUIRE(::write(in[1], "EHLO x\r\n", 8) == 8);
    CHECK(run_to_end(io, channel.read_some(buffer, sizeof buffer, std::chrono::seconds(5))) == 8);
    CHECK(run_to_end(io, channel.write_all("250 ok\r\n", std::chrono::seconds(5))));
    CHECK(::read(out[1], buffer, sizeof buffer) == 8);
    ::close(in[1]);
    CHECK(run_to_end(io, channel.read_some(buffer, sizeof buffer, std::chrono::seconds(5))) == 0);
    channel.release();
    for (const int fd : {in[0], out[0]}) {
        CHECK_FALSE(nonblocking(fd));
        ::close(fd);
    }
    ::close(out[1]);
}

TEST_CASE("around a fork the descriptors are blocking, and the io_context works after it") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    asio::io_context io(1);
    FdChannel channel(io, pair[0], pair[0]);
    CHECK(run_to_end(io, channel.write_all("220 hi\r\n", std::chrono::seconds(5))));
    channel.before_fork();
    CHECK_FALSE(nonblocking(pair[0]));  // what the TLS relay gets
    channel.after_fork();
    char buffer[16];
    REQUIRE(::write(pair[1], "QUIT\r\n", 6) == 6);
    CHECK(run_to_end(io, channel.read_some(buffer, sizeof buffer, std::chrono::seconds(5))) == 6);
    channel.release();
    ::close(pair[0]);
    ::close(pair[1]);
}
