// CheckpasswordVerifier against real child processes. The misbehaving
// checkers are small shell scripts written here: no real checker hangs or
// crashes on purpose.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "scripted_client.hpp"
#include "verifier.hpp"

using namespace smtpauth;
using namespace smtp_auth;
using namespace smtp_auth::test;

namespace {

struct Script {
    std::string path;
    explicit Script(const std::string& body) {
        char name[] = "/tmp/smtp_auth_checker_XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = name;
        std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
        ::chmod(path.c_str(), 0700);
    }
    ~Script() { ::unlink(path.c_str()); }
};

Credentials alice(const char* password) {
    Credentials c;
    c.user = "alice";
    c.secret.str() = password;
    return c;
}

Verdict::Kind verify(const Script& s, const Credentials& c, int timeout = 5) {
    CheckpasswordVerifier verifier(s.path, std::chrono::seconds(timeout));
    return run_to_end(verifier.verify(c)).kind;
}

}  // namespace

TEST_CASE("the checker reads user NUL password NUL NUL on fd 3 and runs 'true'") {
    Script s(R"sh([ "$1" = true ] || exit 2
data=$(od -An -c <&3 | tr -d ' \n')
[ "$data" = 'alice\0secret\0\0' ] && exec "$@"
exit 1)sh");
    CHECK(verify(s, alice("secret")) == Verdict::Kind::accepted);
    CHECK(verify(s, alice("wrong")) == Verdict::Kind::rejected);
}

TEST_CASE("exit codes: 111 and signals are temporary, others reject") {
    CHECK(verify(Script("exit 111"), alice("x")) == Verdict::Kind::temporary);
    CHECK(verify(Script("kill -SEGV $$"), alice("x")) == Verdict::Kind::temporary);
    CHECK(verify(Script("exit 2"), alice("x")) == Verdict::Kind::rejected);
    CHECK(verify(Script("exit 7"), alice("x")) == Verdict::Kind::rejected);
}

TEST_CASE("a checker that cannot be run is a temporary failure") {
    CheckpasswordVerifier missing("/nonexistent/checker", std::chrono::seconds(5));
    const auto v = run_to_end(missing.verify(alice("x")));
    CHECK(v.kind == Verdict::Kind::temporary);
}

TEST_CASE("a hanging checker is killed after the timeout") {
    const auto start = std::chrono::steady_clock::now();
    CHECK(verify(Script("exec sleep 60"), alice("x"), 1) == Verdict::Kind::temporary);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("the checker cannot talk to the client: its stdout is /dev/null") {
    Script s(R"sh(readlink /proc/self/fd/1 > /dev/stderr
[ "$(readlink /proc/$$/fd/1)" = /dev/null ] && [ "$(readlink /proc/$$/fd/0)" = /dev/null ] && exit 0
exit 1)sh");
    CHECK(verify(s, alice("x")) == Verdict::Kind::accepted);
}
