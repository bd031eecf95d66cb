// The ids checkpassword_nosu passes to authreport for a passwd-file line.
#include <doctest/doctest.h>

#include "passwd_file.hpp"

using namespace checkpassword_nosu;

namespace {

Account ids(std::string_view uid, std::string_view gid) {
    Account a;
    a.uid = a.gid = a.groups = "stale";
    resolve_passwd_ids(uid, gid, a);
    return a;
}

}  // namespace

TEST_CASE("uid and gid fields as numbers") {
    const auto a = ids("5000", "5001");
    CHECK(a.uid == "5000");
    CHECK(a.gid == "5001");
    CHECK(a.groups == "5001");
    CHECK(ids("05000", "0100").uid == "5000");
}

TEST_CASE("uid and gid fields as names the system knows") {
    // Debian's base accounts: daemon is uid 1, gid 1; group "daemon" is 1.
    const auto a = ids("daemon", "daemon");
    CHECK(a.uid == "1");
    CHECK(a.gid == "1");
    const auto b = ids("daemon", "");  // the account's own group
    CHECK(b.gid == "1");
    CHECK(ids("1", "").gid == "1");
}

TEST_CASE("no ids when a field names nothing") {
    for (const auto& a : {ids("", ""), ids("", "5000"), ids("no-such-account-xyz", "5000"),
                          ids("5000", "no-such-group-xyz"), ids("999999", ""), ids("99999999999", "1")}) {
        CHECK(a.uid.empty());
        CHECK(a.gid.empty());
        CHECK(a.groups.empty());
    }
}
