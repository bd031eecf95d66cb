#include <doctest/doctest.h>

#include "idle_timeout.hpp"

using namespace smtpproxy;
using std::chrono::seconds;

TEST_CASE("SMTPPROXY_TIMEOUT: unset means qmail-smtpd's 1200 seconds") {
    CHECK(parse_idle_timeout(nullptr) == seconds(1200));
}

TEST_CASE("SMTPPROXY_TIMEOUT: whole seconds from 1 to a day") {
    CHECK(parse_idle_timeout("1") == seconds(1));
    CHECK(parse_idle_timeout("30") == seconds(30));
    CHECK(parse_idle_timeout("0005") == seconds(5));
    CHECK(parse_idle_timeout("86400") == seconds(86400));
    for (const char* bad : {"", "0", "000", "86401", "-1", "+5", " 5", "5 ", "5s", "0x10", "1.5",
                            "999999999", "99999999999999999999999"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_idle_timeout(bad));
    }
}
