// The report socket against real processes: the kernel's credentials on a
// report decide whether it is believed. Switching to nobody needs root, as
// the e2e suite does; scripts/test runs both as root.
#include <doctest/doctest.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "as_user.hpp"

using namespace smtpauth;
using namespace smtp_auth;

namespace {

constexpr uid_t nobody = 65534;

// Sends `reports` from a child process running as `uid`/`gid`.
ReportOutcome report_from(uid_t uid, gid_t gid, std::initializer_list<std::string> reports) {
    ReportSocket socket;
    REQUIRE(socket.child >= 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::getuid() != uid && (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) ::_exit(1);
        for (const auto& r : reports)
            if (::write(socket.child, r.data(), r.size()) != static_cast<ssize_t>(r.size())) ::_exit(1);
        ::_exit(0);
    }
    socket.close_child();
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(status == 0);
    return receive_report(socket);
}

}  // namespace

TEST_CASE("a report from root is believed") {
    REQUIRE_MESSAGE(::geteuid() == 0, "run as root: the test switches to nobody");
    const auto r = report_from(0, 0, {"1001:1001:1001,27:/home/alice\n"});
    REQUIRE(r.account);
    CHECK(r.account->uid == 1001);
    CHECK(r.account->groups == std::vector<gid_t>{1001, 27});
}

TEST_CASE("a reporter that is not root reports itself, and no group it lacks") {
    REQUIRE_MESSAGE(::geteuid() == 0, "run as root: the test switches to nobody");
    const std::string me = std::to_string(nobody) + ":" + std::to_string(nobody);
    const auto own = report_from(nobody, nobody, {me + ":" + std::to_string(nobody) + ":/nonexistent\n"});
    REQUIRE(own.account);
    CHECK(own.account->uid == nobody);

    const auto other = report_from(nobody, nobody, {"1001:1001:1001:/home/alice\n"});
    CHECK_FALSE(other.account);
    CHECK(other.why == "account report names uid 1001 gid 1001, but its writer runs as uid 65534 gid 65534");

    const auto root = report_from(nobody, nobody, {"0:0::/root\n"});
    CHECK_FALSE(root.account);

    const auto group = report_from(nobody, nobody, {me + ":65534,0:/nonexistent\n"});
    CHECK_FALSE(group.account);
    CHECK(group.why == "account report names group 0, which uid 65534 does not have");
}

TEST_CASE("no report, two reports, a malformed one") {
    CHECK(report_from(::getuid(), ::getgid(), {}).why == "the checker's PROG reported no account");
    CHECK(report_from(::getuid(), ::getgid(), {"0:0::/\n", "0:0::/\n"}).why == "more than one account report");
    CHECK(report_from(::getuid(), ::getgid(), {"0:0::/\n\n"}).why == "malformed account report");
    CHECK(report_from(::getuid(), ::getgid(), {std::string(account_max_report + 100, '1')}).why ==
          "account report too long");
}
