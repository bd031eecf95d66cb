// The session with real processes: sh scripts and mailfront as the backend;
// pipes stand in for the client's socket.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <cstring>
#include <optional>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtpproxy;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Client {
    std::string input;              // what the client sends
    bool hangs_on = false;          // keeps its output open until the session ends
    bool reads = true;              // false: has closed its end before the session
    // Called by the reading thread once the first bytes have arrived, while
    // the session runs.
    std::function<void()> on_first_output = {};
};

struct Outcome {
    std::string output;  // what the client received
    int exit_code = -1;
    Clock::duration took{};
};

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

std::optional<Backend> start(const std::vector<std::string>& args, std::string* error = nullptr) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::string why;
    auto backend = start_backend(argv.data(), why);
    if (error) *error = why;
    return backend;
}

Outcome run(const std::vector<std::string>& prog, const std::optional<Handoff>& handoff,
            const Client& client, Clock::duration timeout = 20s) {
    std::signal(SIGPIPE, SIG_IGN);  // as smtpproxy's main() does
    std::signal(SIGCHLD, SIG_DFL);
    int to_proxy[2];
    int from_proxy[2];
    REQUIRE(::pipe2(to_proxy, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_proxy, O_CLOEXEC) == 0);
    if (!client.reads) ::close(from_proxy[0]);

    // Fork before any thread exists.
    const auto backend = start(prog);
    REQUIRE(backend);

    Outcome outcome;
    std::thread writer([&] {
        write_all(to_proxy[1], client.input);
        if (!client.hangs_on) ::close(to_proxy[1]);
    });
    std::thread reader([&] {
        if (!client.reads) return;
        if (client.on_first_output) {
            char first[4096];
            const ssize_t n = ::read(from_proxy[0], first, sizeof first);
            if (n > 0) outcome.output.assign(first, static_cast<std::size_t>(n));
            client.on_first_output();
        }
        outcome.output += read_all(from_proxy[0]);
    });
    const auto started = Clock::now();
    outcome.exit_code = run_session(to_proxy[0], from_proxy[1], *backend, handoff, timeout);
    outcome.took = Clock::now() - started;
    writer.join();
    reader.join();
    if (client.hangs_on) ::close(to_proxy[1]);
    if (client.reads) ::close(from_proxy[0]);
    return outcome;
}

std::vector<std::string> sh(const std::string& script) { return {"sh", "-c", script}; }

Handoff ehlo_then(std::string pending) { return Handoff{{"EHLO client.example\r\n"}, std::move(pending)}; }

struct TempDir {
    std::string path;
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/smtpproxy-test-XXXXXX";
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

bool mailfront_runs() {
    std::string error;
    auto backend = start({"mailfront", "smtp", "echo"}, &error);
    if (!backend) return false;
    ::close(backend->input);
    ::close(backend->output);
    int status;
    ::waitpid(backend->pid, &status, 0);
    return true;
}

}  // namespace

TEST_CASE("without a handoff smtpproxy is transparent") {
    const auto out = run(sh(R"(printf '220 hi\r\n'; cat)"), std::nullopt, {"NOOP\r\nQUIT\n"});
    CHECK(out.output == "220 hi\r\nNOOP\r\nQUIT\n");
    CHECK(out.exit_code == 0);
}

TEST_CASE("the greeting and replies to replayed lines are hidden; PROG gets the exact bytes") {
    TempDir dir;
    const std::string got = dir.file("got");
    const Handoff handoff{{"EHLO one\r\n", "HELO two\n"}, "MAIL FROM:<a@b>\r\nbare\nLF\r\n"};
    // dd reads one octet at a time, so it takes exactly the replayed line.
    const std::string script = R"(printf '220-multi\r\n'; sleep 0.1; printf '220 line\r\n'
        dd bs=1 count=10 2>/dev/null >> ')" + got + R"('
        printf '250-split'; sleep 0.1; printf '\r\n250 done\r\n'
        dd bs=1 count=9 2>/dev/null >> ')" + got + R"('
        printf '250 two\n'
        cat >> ')" + got + R"('; printf '221 bye\r\n')";
    const auto out = run(sh(script), handoff, {"DATA\r\n\xff\0.\r\n"s});
    CHECK(out.output == "221 bye\r\n");
    CHECK(out.exit_code == 0);
    CHECK(slurp(got) == "EHLO one\r\nHELO two\nMAIL FROM:<a@b>\r\nbare\nLF\r\nDATA\r\n\xff\0.\r\n"s);
}

TEST_CASE("with mailfront: only the replies to pending commands reach the client") {
    // scripts/test installs mailfront: without it this test fails, it does not pass.
    REQUIRE_MESSAGE(mailfront_runs(), "mailfront is not installed (apt-get install mailfront)");
    const auto out = run({"mailfront", "smtp", "echo", "accept-sender", "relayclient"},
                         Handoff{{"EHLO x\r\n"}, "MAIL FROM:<a@b>\r\n"}, {"QUIT\r\n"});
    CHECK(out.output == "250 Sender='a@b'.\r\n221 2.0.0 Good bye.\r\n");
    CHECK(out.exit_code == 0);

    const auto plain = run({"mailfront", "smtp", "echo", "accept-sender", "relayclient"},
                           std::nullopt, {"EHLO x\r\nQUIT\r\n"});
    CHECK(plain.output.starts_with("220 "));
    CHECK(plain.output.ends_with("221 2.0.0 Good bye.\r\n"));
}

TEST_CASE("a refusing greeting reaches the client and ends the session") {
    const auto out = run(sh(R"(echo "421 go away"; exit 1)"), ehlo_then("MAIL FROM:<a@b>\r\n"),
                         {"QUIT\r\n"});
    CHECK(out.output == "421 go away\n");
    CHECK(out.exit_code == 1);

    const auto multi = run(sh(R"(printf '554-no\r\n554 never\r\n'; exit 0)"), ehlo_then(""), {});
    CHECK(multi.output == "554-no\r\n554 never\r\n");
    CHECK(multi.exit_code == 111);  // PROG exited 0, but the session failed
}

TEST_CASE("a refused replay reaches the client and ends the session") {
    const auto out = run(sh(R"(printf '220 hi\r\n'; read l; printf '502 what\r\n'; cat >/dev/null)"),
                         ehlo_then("MAIL FROM:<a@b>\r\n"), {"QUIT\r\n"});
    CHECK(out.output == "502 what\r\n");
    CHECK(out.exit_code == 111);
}

TEST_CASE("a backend that does not speak SMTP gets the client a 421") {
    const auto out = run(sh("echo hello; exit 0"), ehlo_then(""), {});
    CHECK(out.output == "421 4.3.0 backend failed\r\n");
    CHECK(out.exit_code == 111);

    const auto split_codes = run(sh(R"(printf '220-a\r\n221 b\r\n'; exit 4)"), ehlo_then(""), {});
    CHECK(split_codes.output == "421 4.3.0 backend failed\r\n");
    CHECK(split_codes.exit_code == 4);
}

TEST_CASE("a backend that closes early gets the client a 421") {
    const auto silent = run(sh("exit 3"), ehlo_then(""), {});
    CHECK(silent.output == "421 4.3.0 backend closed the connection\r\n");
    CHECK(silent.exit_code == 3);

    const auto partial = run(sh(R"(printf '220 hi\r\n'; read l; printf '250 half')"),
                             ehlo_then(""), {});
    CHECK(partial.output == "421 4.3.0 backend closed the connection\r\n");
    CHECK(partial.exit_code == 111);

    const auto killed = run(sh("kill -9 $$"), ehlo_then(""), {});
    CHECK(killed.output == "421 4.3.0 backend closed the connection\r\n");
    CHECK(killed.exit_code == 128 + 9);
}

TEST_CASE("bytes after the last hidden reply go to the client, unsolicited ones before fail") {
    const auto after = run(sh(R"(printf '220 hi\r\n'; read l; printf '250 ok\r\nEXTRA'; cat)"),
                           ehlo_then("NOOP\r\n"), {});
    CHECK(after.output == "EXTRANOOP\r\n");
    CHECK(after.exit_code == 0);

    const auto greeting_only = run(sh(R"(printf '220 hi\r\n250 extra\r\n'; cat)"),
                                   Handoff{{}, "NOOP\r\n"}, {});
    CHECK(greeting_only.output == "250 extra\r\nNOOP\r\n");

    const auto early = run(sh(R"(printf '220 hi\r\n250 extra\r\n'; cat >/dev/null)"),
                           ehlo_then(""), {});
    CHECK(early.output == "421 4.3.0 backend failed\r\n");
    CHECK(early.exit_code == 111);
}

TEST_CASE("a backend that never replies times out: nothing more to the client, PROG killed") {
    const auto replay = run(sh(R"(printf '220 hi\r\n'; exec sleep 30)"), ehlo_then(""),
                            {"", true}, 300ms);
    CHECK(replay.output.empty());
    CHECK(replay.exit_code == 111);
    CHECK(replay.took < 5s);

    const auto relay = run(sh(R"(printf '220 hi\r\n'; exec sleep 30)"), std::nullopt,
                           {"EHLO x\r\n", true}, 300ms);
    CHECK(relay.output == "220 hi\r\n");
    CHECK(relay.exit_code == 111);
    CHECK(relay.took < 5s);

    // What PROG started goes too: it shares PROG's process group.
    TempDir dir;
    const auto grandchild = run(sh(R"(printf '220 hi\r\n'; sleep 30; echo survived > ')" +
                                   dir.file("mark") + "'"),
                                std::nullopt, {"", true}, 300ms);
    CHECK(grandchild.exit_code == 111);
    CHECK(grandchild.took < 5s);
    ::sleep(1);
    CHECK(slurp(dir.file("mark")).empty());
}

TEST_CASE("a backend that has said goodbye and exited does not wait for a silent client") {
    const auto out = run(sh(R"(printf '220 hi\r\n221 bye\r\n')"), std::nullopt, {"", true}, 20s);
    CHECK(out.output == "220 hi\r\n221 bye\r\n");
    CHECK(out.exit_code == 0);
    CHECK(out.took < 5s);

    const auto replayed = run(sh(R"(printf '220 hi\r\n'; read l; printf '250 ok\r\n221 bye\r\n')"),
                              ehlo_then(""), {"", true}, 20s);
    CHECK(replayed.output == "221 bye\r\n");
    CHECK(replayed.exit_code == 0);
    CHECK(replayed.took < 5s);
}

TEST_CASE("half-close: PROG's output ends, the client's input still reaches PROG") {
    TempDir dir;
    const std::string got = dir.file("got");
    const std::string input(200000, 'z');
    const auto out = run(sh("printf '220 hi\\r\\n'; exec >&-; sleep 0.2; cat > '" + got + "'"),
                         std::nullopt, {input});
    CHECK(out.output == "220 hi\r\n");
    CHECK(out.exit_code == 0);
    CHECK(slurp(got) == input);
}

TEST_CASE("the relay is 8-bit clean and rewrites nothing, both ways, in bulk") {
    std::mt19937 random(12345);
    std::string input(3 * 1024 * 1024 + 17, '\0');
    for (auto& c : input) c = static_cast<char>(random());
    input += "\r\n.\r\n\n.\n\r\0"s;
    const auto out = run({"cat"}, std::nullopt, {input});
    CHECK(out.exit_code == 0);
    CHECK(out.output.size() == input.size());
    CHECK(out.output == input);
}

TEST_CASE("a backend that stops reading or a client that stops listening ends cleanly") {
    const auto deaf = run({"true"}, std::nullopt, {std::string(1 << 20, 'a')});
    CHECK(deaf.exit_code == 0);
    CHECK(deaf.took < 5s);

    const auto gone = run({"yes"}, std::nullopt, {"", true, false});
    CHECK(gone.exit_code == 128 + SIGPIPE);
    CHECK(gone.took < 5s);
}

TEST_CASE("PROG gets fds 0, 1 and 2 only") {
    const int stray = ::dup(2);  // inherited without close-on-exec
    REQUIRE(stray > 2);
    // ls lists the shell's descriptors while the shell waits for it.
    const auto out = run(sh(R"(printf '220 hi\r\n'; ls /proc/$$/fd)"), std::nullopt, {});
    ::close(stray);
    CHECK(out.output == "220 hi\r\n0\n1\n2\n");
}

TEST_CASE("a PROG that cannot run is reported") {
    std::string error;
    CHECK_FALSE(start({"smtpproxy-test-no-such-program"}, &error));
    CHECK(error == std::strerror(ENOENT));
}

TEST_CASE("exit codes: PROG's own, or 128 plus the signal") {
    const auto exited = run(sh("printf '220 hi\\r\\n'; exit 7"), std::nullopt, {});
    CHECK(exited.exit_code == 7);
    const auto killed = run(sh("printf '220 hi\\r\\n'; kill -TERM $$"), std::nullopt, {});
    CHECK(killed.output == "220 hi\r\n");
    CHECK(killed.exit_code == 128 + SIGTERM);
}

// ---- the splice(2) relay ----------------------------------------------------

namespace {

// As run(), with the client on a socket (as under tcpserver, or behind
// smtp_auth's TLS relay): one socket, two descriptors for smtpproxy.
Outcome run_on_socket(const std::vector<std::string>& prog, const std::optional<Handoff>& handoff,
                      const std::string& input) {
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGCHLD, SIG_DFL);
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    const int proxy_in = pair[1];
    const int proxy_out = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 3);
    REQUIRE(proxy_out >= 0);
    const auto backend = start(prog);
    REQUIRE(backend);
    Outcome outcome;
    std::thread writer([&] {
        write_all(pair[0], input);
        ::shutdown(pair[0], SHUT_WR);
    });
    std::thread reader([&] { outcome.output = read_all(pair[0]); });
    const auto started = Clock::now();
    outcome.exit_code = run_session(proxy_in, proxy_out, *backend, handoff, 20s);
    outcome.took = Clock::now() - started;
    writer.join();
    reader.join();
    ::close(pair[0]);
    return outcome;
}

std::string random_text(std::size_t n) {
    std::mt19937 random(99);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(random());
    return s;
}

}  // namespace

TEST_CASE("a client on a socket: bulk both ways, every byte intact") {
    const std::string input = random_text(4 * 1024 * 1024 + 3);
    const auto out = run_on_socket({"cat"}, std::nullopt, input);
    CHECK(out.exit_code == 0);
    CHECK(out.output.size() == input.size());
    CHECK(out.output == input);

    // After a replay too: the pending bytes first, then the rest.
    TempDir dir;
    const std::string got = dir.file("got");
    const auto replayed = run_on_socket(
        sh(R"(printf '220 hi\r\n'; read l; printf '250 ok\r\n'; cat > ')" + got + "'"),
        ehlo_then("MAIL FROM:<a@b>\r\n"), input);
    CHECK(replayed.exit_code == 0);
    CHECK(slurp(got) == "MAIL FROM:<a@b>\r\n" + input);
}

TEST_CASE("a backend slower than the client: the relay waits for it and loses nothing") {
    // dd takes a page at a time, as qmail-smtpd does: the pipe to it fills
    // and the relay paces itself.
    TempDir dir;
    const std::string got = dir.file("got");
    const std::string input = random_text(8 * 1024 * 1024);
    const auto out = run_on_socket(
        sh("printf '220 hi\\r\\n'; dd bs=4096 of='" + got + "' 2>/dev/null; printf '221 bye\\r\\n'"),
        std::nullopt, input);
    CHECK(out.exit_code == 0);
    CHECK(out.output == "220 hi\r\n221 bye\r\n");
    const std::string received = slurp(got);
    CHECK(received.size() == input.size());
    CHECK(received == input);
}

TEST_CASE("a client descriptor splice(2) refuses: the relay copies instead") {
    // splice(2) does not write to a file opened for appending.
    TempDir dir;
    const std::string path = dir.file("client-output");
    const int out_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(out_fd >= 0);
    int to_proxy[2];
    REQUIRE(::pipe2(to_proxy, O_CLOEXEC) == 0);
    const auto backend = start({"cat"});
    REQUIRE(backend);
    const std::string input = random_text(2 * 1024 * 1024 + 5);
    std::thread writer([&] {
        write_all(to_proxy[1], input);
        ::close(to_proxy[1]);
    });
    const int code = run_session(to_proxy[0], out_fd, *backend, std::nullopt, 20s);
    writer.join();
    CHECK(code == 0);
    const std::string written = slurp(path);
    CHECK(written.size() == input.size());
    CHECK(written == input);
}

// ---- what the event loop must not change ------------------------------------

namespace {

bool nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    REQUIRE(flags != -1);
    return (flags & O_NONBLOCK) != 0;
}

std::set<int> open_descriptors() {
    std::set<int> fds;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        fds.insert(std::stoi(entry.path().filename().string()));
    return fds;
}

// The octal flags of PROG's `fd`, as the kernel shows them.
std::string flags_line(const std::string& fd) {
    return "grep '^flags' /proc/$$/fdinfo/" + fd;
}

}  // namespace

TEST_CASE("PROG's stdin and stdout are blocking, after the replay and while the relay runs") {
    // O_NONBLOCK belongs to the open file and survives exec: a PROG given
    // non-blocking pipes would see EAGAIN where it expects to wait.
    const std::string script = R"(printf '220 hi\r\n'; read l; printf '250 ok\r\n'; read l
        )" + flags_line("0") + "; " + flags_line("1") + R"(; printf '221 bye\r\n')";
    const auto out = run(sh(script), ehlo_then("NOOP\r\n"), {"", true});
    REQUIRE(out.output.ends_with("221 bye\r\n"));
    std::istringstream lines(out.output);
    std::string label, octal;
    for (int fd = 0; fd < 2; ++fd) {
        CAPTURE(fd);
        lines >> label >> octal;
        REQUIRE(lines);
        CHECK(label == "flags:");
        CHECK((std::stoul(octal, nullptr, 8) & O_NONBLOCK) == 0);
    }
    CHECK(out.exit_code == 0);
}

TEST_CASE("the client's descriptors are blocking again once the session is over") {
    // Whoever shares the connection's open file (the descriptors smtpproxy
    // got as 0 and 1) gets it back as it was.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGCHLD, SIG_DFL);
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    const int proxy_in = pair[1];
    const int proxy_out = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 3);
    const int kept = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 3);  // shares the open file
    REQUIRE(proxy_out >= 0);
    REQUIRE(kept >= 0);
    REQUIRE_FALSE(nonblocking(kept));
    const auto backend = start(sh(R"(printf '220 hi\r\n'; cat)"));
    REQUIRE(backend);
    std::string output;
    bool was_nonblocking = false;
    std::thread client([&] {
        char first[64];
        const bool greeted = ::read(pair[0], first, sizeof first) > 0;  // the relay runs
        REQUIRE(greeted);
        was_nonblocking = nonblocking(kept);
        write_all(pair[0], "QUIT\r\n");
        ::shutdown(pair[0], SHUT_WR);
        output = read_all(pair[0]);
    });
    CHECK(run_session(proxy_in, proxy_out, *backend, std::nullopt, 20s) == 0);
    client.join();
    CHECK(was_nonblocking);  // splice(2) needs it while the relay runs
    CHECK(output == "QUIT\r\n");
    CHECK_FALSE(nonblocking(kept));
    ::close(kept);
    ::close(pair[0]);
}

TEST_CASE("what the event loop opens is close-on-exec, and SIGCHLD keeps its default") {
    const std::set<int> before = open_descriptors();
    std::vector<int> leaked;
    bool sigchld_default = false;
    const auto out = run(sh(R"(printf '220 hi\r\n'; sleep 0.3; printf '221 bye\r\n')"),
                         std::nullopt, {"", true, true, [&] {
                             for (const int fd : open_descriptors())
                                 if (!before.contains(fd) && !(::fcntl(fd, F_GETFD) & FD_CLOEXEC))
                                     leaked.push_back(fd);
                             // No handler (nor Asio's signal_set) takes PROG's
                             // exit from the pidfd's waitpid(2).
                             struct sigaction now {};
                             ::sigaction(SIGCHLD, nullptr, &now);
                             sigchld_default = now.sa_handler == SIG_DFL;
                         }});
    CHECK(out.output == "220 hi\r\n221 bye\r\n");
    CHECK(out.exit_code == 0);
    CHECK(leaked.empty());
    CHECK(sigchld_default);
}
