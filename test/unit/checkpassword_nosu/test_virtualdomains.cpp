#include <doctest/doctest.h>

#include "virtualdomains.hpp"

using namespace checkpassword_nosu;

TEST_CASE("virtualdomains: a domain gets its prefix") {
    const auto v = parse_virtualdomains("virtual.example:joe\nother.example:sales\n");
    REQUIRE(v.size() == 2);
    CHECK(v[0].key == "virtual.example");
    CHECK(v[0].prefix == "joe");
    CHECK(virtual_local(v, "info-x@virtual.example") == "joe-info-x");
    CHECK(virtual_local(v, "a@other.example") == "sales-a");
    CHECK(!virtual_local(v, "a@elsewhere.example"));
    CHECK(!virtual_local(v, "no-domain"));
}

TEST_CASE("virtualdomains: qmail-send's order: address, domain, .suffixes, empty key") {
    const auto v = parse_virtualdomains(
        ":catchall\n"
        ".example:wild\n"
        ".sub.example:subwild\n"
        "a.sub.example:exact\n"
        "boss@a.sub.example:boss\n");
    CHECK(virtual_local(v, "boss@a.sub.example") == "boss-boss");
    CHECK(virtual_local(v, "x@a.sub.example") == "exact-x");
    CHECK(virtual_local(v, "x@b.sub.example") == "subwild-x");
    CHECK(virtual_local(v, "x@c.example") == "wild-x");
    CHECK(virtual_local(v, "x@example") == "catchall-x");
    CHECK(virtual_local(v, "x@y.org") == "catchall-x");
}

TEST_CASE("virtualdomains: an empty prefix means not virtual, and stops the search") {
    const auto v = parse_virtualdomains(":catchall\nlocal.example:\n");
    CHECK(!virtual_local(v, "x@local.example"));
    CHECK(virtual_local(v, "x@other.example") == "catchall-x");
}

TEST_CASE("virtualdomains: keys are compared without case; the local part keeps it") {
    const auto v = parse_virtualdomains("Virtual.Example:joe\n");
    CHECK(virtual_local(v, "Info@VIRTUAL.example") == "joe-Info");
}

TEST_CASE("virtualdomains: control file rules") {
    const auto v = parse_virtualdomains(
        "# a comment\n"
        "\n"
        "   \n"
        "no colon here\n"
        "spaced.example:pre \t \n"
        "colons.example:a:b\n"
        "last.example:first\n"
        "last.example:second\n"
        "noeol.example:end");
    CHECK(virtual_local(v, "x@spaced.example") == "pre-x");  // trailing blanks dropped
    CHECK(virtual_local(v, "x@colons.example") == "a:b-x");  // key ends at the first ':'
    CHECK(virtual_local(v, "x@last.example") == "second-x"); // the last line wins
    CHECK(virtual_local(v, "x@noeol.example") == "end-x");
    CHECK(!virtual_local(v, "x@no colon here"));
    CHECK(parse_virtualdomains("").empty());
}

TEST_CASE("virtualdomains: the last '@' separates the domain") {
    const auto v = parse_virtualdomains("b.example:pre\n");
    CHECK(virtual_local(v, "a@x@b.example") == "pre-a@x");
}
