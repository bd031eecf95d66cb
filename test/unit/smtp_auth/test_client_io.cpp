// FdChannel's writes are bounded in time, whatever the size of the reply.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "client_io.hpp"

using namespace smtpauth;
using namespace smtp_auth;

TEST_CASE("a reply nobody reads gives up after its timeout, and the descriptor stays blocking") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const int small = 4096;
    ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    FdChannel channel(pair[0], pair[0]);
    const std::string reply(4 << 20, 'x');  // far more than both socket buffers hold
    const auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(channel.write_all(reply, std::chrono::milliseconds(300)));
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(3));
    CHECK((::fcntl(pair[0], F_GETFL) & O_NONBLOCK) == 0);
    // A reply that fits goes out whole.
    char sink[65536];
    while (::recv(pair[1], sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    CHECK(channel.write_all("250 ok\r\n", std::chrono::milliseconds(300)));
    ::close(pair[0]);
    ::close(pair[1]);
}
