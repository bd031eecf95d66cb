#include <doctest/doctest.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "close_connection.hpp"

using namespace smtpauth;
using namespace std::chrono_literals;

namespace {
struct Pair {
    int ours = -1, client = -1;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        ours = fds[0];
        client = fds[1];
    }
    ~Pair() {
        if (ours >= 0) ::close(ours);
        if (client >= 0) ::close(client);
    }
    int unread() const {
        int n = -1;
        ::ioctl(ours, FIONREAD, &n);
        return n;
    }
};
}  // namespace

TEST_CASE("unread input: EOF to the client, its bytes dropped until it closes") {
    Pair p;
    const std::string junk(100000, 'x');
    std::thread client([&] {
        // Writes more than the socket holds, then reads until our EOF.
        std::size_t sent = 0;
        while (sent < junk.size()) {
            const ssize_t n = ::write(p.client, junk.data() + sent, junk.size() - sent);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        char c;
        CHECK(::read(p.client, &c, 1) == 0);
        ::close(p.client);
        p.client = -1;
    });
    while (p.unread() <= 0) std::this_thread::sleep_for(1ms);
    drain_before_close(p.ours, p.ours, 5s);
    client.join();
    CHECK(p.unread() == 0);
    char c;
    CHECK(::read(p.ours, &c, 1) == 0);  // the client's end of file reached
}

TEST_CASE("nothing unread: nothing done") {
    Pair p;
    drain_before_close(p.ours, p.ours, 5s);
    // No EOF sent: the output still works.
    CHECK(::write(p.ours, "x", 1) == 1);
}

TEST_CASE("a client that never closes is given up on after the grace period") {
    Pair p;
    REQUIRE(::write(p.client, "QUIT\r\n", 6) == 6);
    const auto start = std::chrono::steady_clock::now();
    drain_before_close(p.ours, p.ours, 200ms);
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    char c;
    CHECK(::read(p.client, &c, 1) == 0);  // it got its EOF all the same
}

TEST_CASE("not a socket: left alone") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "data", 4) == 4);
    drain_before_close(fds[0], fds[1], 5s);
    int n = 0;
    ::ioctl(fds[0], FIONREAD, &n);
    CHECK(n == 4);
    ::close(fds[0]);
    ::close(fds[1]);
}
