#include <doctest/doctest.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "log.hpp"

using namespace smtpauth;

namespace {

// Runs `write_lines` with fd 2 on a pipe; returns what it wrote there.
template <typename F>
std::string stderr_of(F write_lines) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    const int saved = ::dup(2);
    ::dup2(p[1], 2);
    ::close(p[1]);
    write_lines();
    ::dup2(saved, 2);
    ::close(saved);
    std::string out;
    char buffer[8192];
    for (ssize_t n; (n = ::read(p[0], buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
    ::close(p[0]);
    return out;
}

// The environment a test changes, put back as it was.
struct EnvGuard {
    explicit EnvGuard(const char* name) : name_(name) {
        const char* v = std::getenv(name);
        if (v) old_ = v;
    }
    ~EnvGuard() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("log escaping keeps log lines single and printable") {
    CHECK(escape_for_log("alice@example.org") == "alice@example.org");
    CHECK(escape_for_log("a\nb\r\"c\\") == "a\\x0ab\\x0d\\x22c\\x5c");
    CHECK(escape_for_log(std::string_view("\0\xff", 2)) == "\\x00\\xff");
    CHECK(escape_for_log("\x7f\x1b[31m") == "\\x7f\\x1b[31m");
    CHECK(escape_for_log(std::string(300, 'x'), 4) == "xxxx...");
    CHECK(escape_for_log("abcd", 4) == "abcd");
}

TEST_CASE("a line has program, pid, address, event, user, outcome and detail") {
    CHECK(format_log_line({"smtp_auth", 1234, "192.0.2.7", "auth PLAIN", "alice", "rejected", "checker exit 1"}) ==
          "smtp_auth: pid 1234 from 192.0.2.7: auth PLAIN user \"alice\": rejected (checker exit 1)\n");
    CHECK(format_log_line({"smtpproxy", 99, "2001:db8::1", "backend", std::nullopt, "timeout",
                           "waiting for its greeting"}) ==
          "smtpproxy: pid 99 from 2001:db8::1: backend: timeout (waiting for its greeting)\n");
    // No detail: no parentheses.
    CHECK(format_log_line({"smtp_auth", 7, "unknown", "auth LOGIN", "bob", "accepted", ""}) ==
          "smtp_auth: pid 7 from unknown: auth LOGIN user \"bob\": accepted\n");
    // An empty user is still a user field: the login named nobody.
    CHECK(format_log_line({"smtp_auth", 7, "unknown", "auth PLAIN", "", "rejected", "checker exit 1"}) ==
          "smtp_auth: pid 7 from unknown: auth PLAIN user \"\": rejected (checker exit 1)\n");
}

TEST_CASE("the short form, for a program without a connection") {
    CHECK(format_log_line({"apoppw", std::nullopt, "", "password", std::nullopt, "set", "/home/a/.apop"}) ==
          "apoppw: password: set (/home/a/.apop)\n");
}

TEST_CASE("a user name cannot end its quotes, start a line or name another address") {
    const std::string forged = "x\": rejected (\n@4000 smtp_auth: pid 1 from 192.0.2.66: auth PLAIN user \"y";
    const auto line = format_log_line({"smtp_auth", 5, "127.0.0.1", "auth PLAIN", forged, "rejected", "checker exit 1"});
    CHECK(line == "smtp_auth: pid 5 from 127.0.0.1: auth PLAIN user "
                  "\"x\\x22: rejected (\\x0a@4000 smtp_auth: pid 1 from 192.0.2.66: auth PLAIN user \\x22y\": "
                  "rejected (checker exit 1)\n");
    CHECK(line.find('\n') == line.size() - 1);
    // Exactly two quotes: the user field's.
    CHECK(std::count(line.begin(), line.end(), '"') == 2);
}

TEST_CASE("every field is escaped; the detail keeps its quotes, not its control characters") {
    const auto line = format_log_line({"smtp_auth", 5, "1.2.3.4\n", "auth X\r", "u", "rejected",
                                       "GREETING must end with a line \"220 ...\"\n\\"});
    CHECK(line == "smtp_auth: pid 5 from 1.2.3.4\\x0a: auth X\\x0d user \"u\": rejected "
                  "(GREETING must end with a line \"220 ...\"\\x0a\\x5c)\n");
}

TEST_CASE("a line stays under PIPE_BUF whatever its fields hold") {
    const std::string huge(100000, '\n');
    const auto line = format_log_line({huge, 4194304, huge, huge, huge, huge, huge});
    CHECK(line.size() < PIPE_BUF);
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(line.find("...") != std::string::npos);
}

TEST_CASE("log_event writes one line with the program, the connection's pid and TCPREMOTEIP") {
    EnvGuard pid_guard(connection_pid_variable), ip_guard("TCPREMOTEIP");
    set_log_program("smtp_auth");
    ::setenv("TCPREMOTEIP", "192.0.2.7", 1);
    ::setenv(connection_pid_variable, "4242", 1);
    CHECK(stderr_of([] {
              log_user_event("auth PLAIN", "al\"ice", "rejected", "checker exit 1");
              log_event("session", "timeout", "idle for SMTP_TIMEOUT");
          }) ==
          "smtp_auth: pid 4242 from 192.0.2.7: auth PLAIN user \"al\\x22ice\": rejected (checker exit 1)\n"
          "smtp_auth: pid 4242 from 192.0.2.7: session: timeout (idle for SMTP_TIMEOUT)\n");

    // Without the variables: this process's pid, and "unknown".
    ::unsetenv("TCPREMOTEIP");
    ::unsetenv(connection_pid_variable);
    CHECK(stderr_of([] { log_event("config", "error", "usage: x"); }) ==
          "smtp_auth: pid " + std::to_string(::getpid()) + " from unknown: config: error (usage: x)\n");
    set_log_program("apoppw", LogPid::none);
    CHECK(stderr_of([] { log_event("password", "refused", "the two passwords differ"); }) ==
          "apoppw: password: refused (the two passwords differ)\n");
    set_log_program("unit");
}

TEST_CASE("the connection's pid: SMTPAUTH_PID, else own or the caller's") {
    EnvGuard guard(connection_pid_variable);
    ::unsetenv(connection_pid_variable);
    set_log_program("unit", LogPid::own);
    CHECK(connection_pid() == ::getpid());
    set_log_program("unit", LogPid::caller);
    CHECK(connection_pid() == ::getppid());
    // Not a pid: ignored, as if unset.
    for (const char* junk : {"", "0", "-5", "12x", "99999999999999999999999", " 12"}) {
        CAPTURE(junk);
        ::setenv(connection_pid_variable, junk, 1);
        CHECK(connection_pid() == ::getppid());
    }
    set_log_program("unit", LogPid::own);
    export_connection_pid();
    CHECK(std::string(std::getenv(connection_pid_variable)) == std::to_string(::getpid()));
    // A forked child (the TLS relay's session, the checker) keeps it.
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(connection_pid() == parent ? 0 : 1);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("refuse_session logs and answers 421") {
    EnvGuard pid_guard(connection_pid_variable), ip_guard("TCPREMOTEIP");
    ::setenv(connection_pid_variable, "77", 1);
    ::setenv("TCPREMOTEIP", "198.51.100.1", 1);
    set_log_program("authuidgid");
    int p[2];
    REQUIRE(::pipe(p) == 0);
    const int saved = ::dup(1);
    ::dup2(p[1], 1);
    ::close(p[1]);
    int code = 0;
    const auto logged = stderr_of([&] { code = refuse_session("account", "refused", "uid 0 never gets a session"); });
    ::dup2(saved, 1);
    ::close(saved);
    char reply[128] = {};
    const ssize_t n = ::read(p[0], reply, sizeof reply - 1);
    ::close(p[0]);
    CHECK(code == 111);
    CHECK(logged == "authuidgid: pid 77 from 198.51.100.1: account: refused (uid 0 never gets a session)\n");
    CHECK(std::string(reply, n > 0 ? static_cast<std::size_t>(n) : 0) == "421 4.3.0 service temporarily unavailable\r\n");
    set_log_program("unit");
}
