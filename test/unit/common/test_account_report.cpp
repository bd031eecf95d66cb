#include <doctest/doctest.h>

#include <string>

#include "account_report.hpp"

using namespace smtpauth;

TEST_CASE("an account report round trips") {
    const SessionAccount a{1001, 1002, {1002, 27, 100}, "/home/alice"};
    const auto line = format_account(a);
    REQUIRE(line);
    CHECK(*line == "1001:1002:1002,27,100:/home/alice");
    CHECK(parse_account(*line) == a);
    CHECK(parse_account_report(*line + "\n") == a);
}

TEST_CASE("an account report may have no groups and a HOME with ':' and spaces") {
    const auto a = parse_account("5000:5000::/var/mail/x:y z");
    REQUIRE(a);
    CHECK(a->groups.empty());
    CHECK(a->home == "/var/mail/x:y z");
    CHECK(format_account(*a) == "5000:5000::/var/mail/x:y z");
}

TEST_CASE("an account report is exactly one line ending in LF") {
    CHECK_FALSE(parse_account_report("1001:1001:1001:/home/a"));
    CHECK_FALSE(parse_account_report("1001:1001:1001:/home/a\n\n"));
    CHECK_FALSE(parse_account_report("1001:1001:1001:/home/a\r\n"));
    CHECK_FALSE(parse_account_report("1001:1001:1001:/home/a\nextra\n"));
    CHECK_FALSE(parse_account_report(""));
    CHECK_FALSE(parse_account_report("\n"));
}

TEST_CASE("numbers are plain decimal below (uid_t)-1") {
    CHECK(parse_id("0") == 0u);
    CHECK(parse_id("4294967294") == 4294967294u);
    CHECK_FALSE(parse_id("4294967295"));
    CHECK_FALSE(parse_id("99999999999"));
    CHECK_FALSE(parse_id("007"));
    CHECK_FALSE(parse_id("+7"));
    CHECK_FALSE(parse_id("-1"));
    CHECK_FALSE(parse_id(" 7"));
    CHECK_FALSE(parse_id(""));
    CHECK_FALSE(parse_account("1001:x:1:/h"));
    CHECK_FALSE(parse_account(":1001:1:/h"));
    CHECK_FALSE(parse_account("1001:1001:1,,2:/h"));
    CHECK_FALSE(parse_account("1001:1001:1,:/h"));
    CHECK_FALSE(parse_account("1001:1001:,1:/h"));
}

TEST_CASE("HOME is absolute, bounded and free of control characters") {
    CHECK_FALSE(parse_account("1001:1001:1001:"));
    CHECK_FALSE(parse_account("1001:1001:1001:home/a"));
    CHECK_FALSE(parse_account("1001:1001:1001:/home/a\tb"));
    CHECK_FALSE(parse_account(std::string("1001:1001:1001:/home/a\0b", 24)));
    CHECK_FALSE(parse_account("1001:1001:1001:/home/\x7f"));
    CHECK(parse_account("1001:1001:1001:/" + std::string(account_max_home - 1, 'a')));
    CHECK_FALSE(parse_account("1001:1001:1001:/" + std::string(account_max_home, 'a')));
    CHECK_FALSE(parse_account("1001:1001:1001"));
    CHECK_FALSE(format_account({1001, 1001, {}, "relative"}));
}

TEST_CASE("the group list is bounded") {
    std::string groups;
    for (std::size_t i = 0; i < account_max_groups; ++i) groups += (i ? "," : "") + std::to_string(i + 1);
    CHECK(parse_account("1001:1001:" + groups + ":/h"));
    CHECK_FALSE(parse_account("1001:1001:" + groups + ",9:/h"));
    SessionAccount a{1001, 1001, std::vector<gid_t>(account_max_groups + 1, 5), "/h"};
    CHECK_FALSE(format_account(a));
}

TEST_CASE("uid 0 and uids below the minimum get no session") {
    CHECK(refusal({0, 0, {}, "/root"}, 1) == "uid 0 never gets a session");
    CHECK(refusal({999, 999, {}, "/"}, 1000) == "uid 999 is below AUTH_MIN_UID 1000");
    CHECK(refusal({1000, 1000, {}, "/"}, 1000).empty());
    CHECK(refusal({5, 5, {}, "/"}, 1).empty());
}

TEST_CASE("AUTH_MIN_UID") {
    CHECK(parse_min_uid(nullptr) == default_min_uid);
    CHECK(parse_min_uid("") == default_min_uid);
    CHECK(parse_min_uid("500") == 500u);
    CHECK(parse_min_uid("1") == 1u);
    CHECK_FALSE(parse_min_uid("0"));
    CHECK_FALSE(parse_min_uid("abc"));
    CHECK_FALSE(parse_min_uid("4294967295"));
}
