// The pump on real descriptors: pipes, sockets and a file splice(2) refuses.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <random>
#include <string>

#include "pump.hpp"

using namespace smtpproxy;
using Step = Pump::Step;

namespace {

struct Pair {
    int read_end = -1;
    int write_end = -1;
    ~Pair() {
        if (read_end >= 0) ::close(read_end);
        if (write_end >= 0) ::close(write_end);
    }
};

Pair pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    return {fds[0], fds[1]};
}

Pair socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
    return {fds[0], fds[1]};
}

std::string random_bytes(std::size_t n) {
    std::mt19937 random(7);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(random());
    return s;
}

// Writes what fits without blocking; returns how much did.
std::size_t put(int fd, std::string_view data) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// Bytes waiting to be read in `fd`.
std::size_t unread(int fd) {
    int n = 0;
    REQUIRE(::ioctl(fd, FIONREAD, &n) == 0);
    return static_cast<std::size_t>(n);
}

std::string take(int fd) {
    std::string out;
    char block[65536];
    for (;;) {
        const ssize_t n = ::read(fd, block, sizeof block);
        if (n <= 0) return out;
        out.append(block, static_cast<std::size_t>(n));
    }
}

// Feeds `input` into `source` and drains `sink` while the pump runs, until
// the pump reports eof; returns what came out of `sink`.
std::string pump_through(Pump& pump, int& source_writer, int sink, const std::string& input) {
    std::size_t fed = 0;
    std::string out;
    for (int rounds = 0; rounds < 1000000; ++rounds) {
        if (fed < input.size()) fed += put(source_writer, std::string_view(input).substr(fed));
        if (fed == input.size() && source_writer >= 0) {
            ::close(source_writer);  // the source's EOF
            source_writer = -1;
        }
        const Step s = pump.step();
        out += take(sink);
        if (s == Step::eof) return out + take(sink);
        REQUIRE(s != Step::error);
    }
    FAIL("the pump never finished");
    return out;
}

}  // namespace

TEST_CASE("pump: socket to pipe and pipe to socket by splice(2), every byte intact") {
    const std::string input = random_bytes(3 * 1024 * 1024 + 11);
    {
        Pair client = socket_pair();
        Pair backend = pipe_pair();
        Pump pump(client.read_end, backend.write_end);
        const std::string out = pump_through(pump, client.write_end,
                                             backend.read_end, input);
        CHECK(out == input);
    }
    {
        Pair backend = pipe_pair();
        Pair client = socket_pair();
        Pump pump(backend.read_end, client.write_end);
        const std::string out = pump_through(pump, backend.write_end,
                                             client.read_end, input);
        CHECK(out == input);
    }
}

TEST_CASE("pump: once the backend falls behind, it takes a pipe-full from the client, intact") {
    Pair client = socket_pair();
    Pair backend = pipe_pair();
    // The backend's pipe full: the pump sees it fall behind.
    std::string in_pipe;
    const std::string block(4096, 'f');
    for (std::size_t n; (n = put(backend.write_end, block)) > 0;) in_pipe.append(block, 0, n);
    const std::string input = random_bytes(2 * 1024 * 1024 + 1);
    const std::size_t fed = put(client.write_end, input);
    Pump pump(client.read_end, backend.write_end);
    CHECK(pump.step() == Step::wait_write);
    // The backend's pipe is full, yet the client's socket is emptied into
    // the pump's own pipe (as much as it holds): one large move later.
    const std::size_t waiting = unread(client.read_end);
    REQUIRE(waiting > 0);
    CHECK(pump.step() == Step::wait_write);
    CHECK(unread(client.read_end) < waiting);
    CHECK(waiting - unread(client.read_end) <= Pump::stage_size);
    // What it had taken before stays first; the rest follows.
    const std::string out =
        pump_through(pump, client.write_end, backend.read_end, input.substr(fed));
    CHECK(out.size() == in_pipe.size() + input.size());
    CHECK(out == in_pipe + input);
}

TEST_CASE("pump: the bytes given first go out first") {
    Pair client = socket_pair();
    Pair backend = pipe_pair();
    Pump pump(client.read_end, backend.write_end, "MAIL FROM:<a@b>\r\n");
    const std::string out = pump_through(pump, client.write_end,
                                         backend.read_end, "RCPT TO:<c@d>\r\n");
    CHECK(out == "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
}

TEST_CASE("pump: where splice(2) is refused it copies, for good") {
    // splice(2) never writes to a file opened for appending.
    const char* base = std::getenv("TMPDIR");
    std::string path = std::string(base && *base ? base : "/tmp") + "/smtpproxy-pump-XXXXXX";
    const int made = ::mkstemp(path.data());
    REQUIRE(made >= 0);
    ::close(made);
    const int file = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(file >= 0);
    Pair backend = pipe_pair();
    const std::string input = random_bytes(300000);
    Pump pump(backend.read_end, file);
    std::size_t fed = 0;
    Step s = Step::moved;
    while (s != Step::eof) {
        if (fed < input.size()) fed += put(backend.write_end, std::string_view(input).substr(fed));
        if (fed == input.size() && backend.write_end >= 0) {
            ::close(backend.write_end);
            backend.write_end = -1;
        }
        s = pump.step();
        REQUIRE(s != Step::error);
    }
    ::close(file);
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    CHECK(take(in) == input);
    ::close(in);
    ::unlink(path.c_str());
}

TEST_CASE("pump: with no pipe at either end (splice(2) needs one) it copies") {
    const std::string input = random_bytes(500000);
    Pair from = socket_pair();
    Pair to = socket_pair();
    Pump pump(from.read_end, to.write_end, "first ");
    const std::string out = pump_through(pump, from.write_end, to.read_end, input);
    CHECK(out == "first " + input);
}

TEST_CASE("pump: says which end to wait for") {
    for (const bool copying : {false, true}) {
        CAPTURE(copying);
        // A socket at both ends: splice(2) refuses, the pump copies.
        Pair client = socket_pair();
        Pair backend = copying ? socket_pair() : pipe_pair();
        Pump pump(client.read_end, backend.write_end);
        CHECK(pump.step() == Step::wait_read);  // nothing sent yet

        // Fill the pipe, then offer more: the destination holds it up.
        const std::string block(65536, 'x');
        while (put(backend.write_end, block) > 0) {
        }
        REQUIRE(put(client.write_end, "more\r\n") == 6);
        Step s = pump.step();
        if (copying && s == Step::moved) s = pump.step();  // read into its buffer first
        CHECK(s == Step::wait_write);

        // Room again: it goes through.
        take(backend.read_end);
        CHECK(pump.step() == Step::moved);
        CHECK(take(backend.read_end) == "more\r\n");

        ::close(client.write_end);
        client.write_end = -1;
        CHECK(pump.step() == Step::eof);
    }
}

TEST_CASE("pump: a destination that is gone is an error with its errno") {
    Pair client = socket_pair();
    Pair backend = pipe_pair();
    ::close(backend.read_end);
    backend.read_end = -1;
    REQUIRE(put(client.write_end, "data") == 4);
    Pump pump(client.read_end, backend.write_end);
    std::signal(SIGPIPE, SIG_IGN);
    CHECK(pump.step() == Step::error);
    CHECK(pump.error() == EPIPE);
}

TEST_CASE("pacer: paces only once the backend is seen draining, adapts, stops when it stalls") {
    Pacer p;
    CHECK_FALSE(p.pacing());
    p.woke();
    REQUIRE(p.pacing());
    const auto first = p.pause();

    p.drained(900, 1000);  // drained less than a quarter: longer
    CHECK(p.pause() == first * 2);
    for (int i = 0; i < 20; ++i) p.drained(900, 1000);
    CHECK(p.pause() == Pacer::longest);

    p.drained(100, 1000);  // drained more than three quarters: shorter
    CHECK(p.pause() == Pacer::longest / 2);
    for (int i = 0; i < 20; ++i) p.drained(100, 1000);
    CHECK(p.pause() == Pacer::shortest);

    const auto kept = p.pause();
    p.drained(500, 1000);  // about half: as it is
    CHECK(p.pause() == kept);
    CHECK(p.pacing());

    p.drained(1000, 1000);  // took nothing: wait for it instead
    CHECK_FALSE(p.pacing());
    p.woke();
    CHECK(p.pacing());
}
