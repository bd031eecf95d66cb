#include <doctest/doctest.h>

#include "users_assign.hpp"

using namespace checkpassword_nosu;
using namespace std::literals;

namespace {

UsersAssign parsed(std::string_view text) {
    std::string why;
    auto a = parse_users_assign(text, why);
    REQUIRE_MESSAGE(a, why);
    return std::move(*a);
}

std::string error_of(std::string_view text) {
    std::string why;
    CHECK(!parse_users_assign(text, why));
    return why;
}

}  // namespace

TEST_CASE("users/assign: an exact line") {
    const auto a = parsed("=joe:joe:1001:1002:/home/joe:::\n.\n");
    const auto found = assign_lookup(a, "joe");
    REQUIRE(found);
    CHECK(found->user == "joe");
    CHECK(found->uid == 1001);
    CHECK(found->gid == 1002);
    CHECK(found->home == "/home/joe");
    CHECK(found->dash.empty());
    CHECK(found->ext.empty());
    CHECK(!assign_lookup(a, "joe-x"));  // exact means exact
}

TEST_CASE("users/assign: a wildcard line appends the rest of the address") {
    const auto a = parsed("+vdom-:vmail:2000:2000:/var/vdom:-::\n.\n");
    const auto found = assign_lookup(a, "vdom-Info-Sales");
    REQUIRE(found);
    CHECK(found->user == "vmail");
    CHECK(found->home == "/var/vdom");
    CHECK(found->dash == "-");
    CHECK(found->ext == "Info-Sales");  // case kept; qmail-local lowers it for the file name
}

TEST_CASE("users/assign: exact first, then the longest prefix, then the first line") {
    const auto a = parsed(
        "+:catch:3000:3000:/c:-::\n"
        "+sales-:s1:3001:3001:/s1:-:pre-:\n"
        "+sales-:s2:3002:3002:/s2:-::\n"
        "+sales-east-:e:3003:3003:/e:-::\n"
        "=sales-east-boss:boss:3004:3004:/b:::\n"
        ".\n");
    CHECK(assign_lookup(a, "sales-east-boss")->user == "boss");
    CHECK(assign_lookup(a, "SALES-East-Boss")->user == "boss");
    CHECK(assign_lookup(a, "sales-east-x")->user == "e");
    const auto s = assign_lookup(a, "sales-x");
    REQUIRE(s);
    CHECK(s->user == "s1");
    CHECK(s->ext == "pre-x");
    CHECK(assign_lookup(a, "anything")->user == "catch");
    CHECK(assign_lookup(a, "anything")->ext == "anything");
}

TEST_CASE("users/assign: the file ends at a line starting with '.'") {
    const auto a = parsed("=a:a:1:1:/a:::\n.\n=b:b:1:1:/b:::\ngarbage\n");
    CHECK(assign_lookup(a, "a"));
    CHECK(!assign_lookup(a, "b"));
    CHECK(parsed(".").lines.empty());
    CHECK(parsed(".anything\n").lines.empty());
}

TEST_CASE("users/assign: extra fields after the seventh are ignored") {
    const auto a = parsed("=a:a:1:1:/a:-:x:extra:fields\n.\n");
    CHECK(assign_lookup(a, "a")->ext == "x");
}

TEST_CASE("users/assign: bad files are refused, naming the line") {
    CHECK(error_of("") == "users/assign line 1: missing; the file must end with a line \".\"");
    CHECK(error_of("=a:a:1:1:/a:::\n") ==
          "users/assign line 2: missing; the file must end with a line \".\"");
    CHECK(error_of("=a:a:1:1:/a:::") ==
          "users/assign line 1: missing; the file must end with a line \".\"");
    CHECK(error_of("=a:a:1:1:/a::\n.\n") == "users/assign line 1: fewer than seven fields");
    CHECK(error_of(":a:1:1:/a:::\n.\n") == "users/assign line 1: no address field");
    CHECK(error_of("no colon\n.\n") == "users/assign line 1: no address field");
    CHECK(error_of("=a:a:x:1:/a:::\n.\n") == "users/assign line 1: uid or gid is not a number");
    CHECK(error_of("=a:a:1::/a:::\n.\n") == "users/assign line 1: uid or gid is not a number");
    CHECK(error_of("=a:a:4294967295:1:/a:::\n.\n") ==
          "users/assign line 1: uid or gid is not a number");
    CHECK(error_of("=a:a:1:1:/a\0:::\n.\n"sv) ==
          "users/assign line 1: holds a NUL");
    CHECK(error_of("\n.\n") == "users/assign line 1: no address field");
    CHECK(parsed("=a:a:4294967294:0:/a:::\n.\n").lines.at(0).to.uid == 4294967294u);
}
