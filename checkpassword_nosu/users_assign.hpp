// qmail's users/assign, the text that qmail-newu compiles into users/cdb:
// which account, home and extension deliver a local part.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace checkpassword_nosu {

// What qmail-lspawn hands qmail-local: the mail goes to `home`/.qmail`dash``ext`.
struct Assignment {
    std::string user;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string home;
    std::string dash;
    std::string ext;
};

// "=local:user:uid:gid:home:dash:ext:" (exact; any first character but '+'
// means exact, as in qmail-newu) or "+prefix:user:uid:gid:home:dash:pre:".
struct AssignLine {
    bool wildcard = false;
    std::string key;  // lower case, without the '=' or '+'
    Assignment to;
};

struct UsersAssign {
    std::vector<AssignLine> lines;
};

// qmail-newu's rules: the file ends at a line starting with '.'; before it,
// every line must end in a newline, hold no NUL, have a non-empty first field
// and six more ':'-terminated fields (the rest of the line is ignored). We
// also want uid and gid to be decimal numbers below 2^32 - 1. Anything else
// is a bad file: nullopt, and `why` names the line.
std::optional<UsersAssign> parse_users_assign(std::string_view text, std::string& why);

// qmail-lspawn's lookup of `local` (compared in lower case): the first exact
// line for it; else the first line of the longest wildcard prefix, whose ext
// is its own followed by the rest of `local` (case kept).
std::optional<Assignment> assign_lookup(const UsersAssign& assign, std::string_view local);

}  // namespace checkpassword_nosu
