// Dovecot passwd-file accounts:
//   user:{SCHEME}secret[:uid:gid:gecos:home:shell:extra...]
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "account.hpp"
#include "secret.hpp"

namespace checkpassword_nosu {

// Longer lines are skipped; a file with more lines is refused as broken.
inline constexpr std::size_t passwd_line_limit = 4096;
inline constexpr std::size_t passwd_lines_limit = 1000000;

struct PasswdLine {
    std::string user;
    std::string scheme;         // upper case; "CRYPT" when the line names none
    smtpauth::Secret secret;    // without its {SCHEME} prefix
    std::string uid;            // fields absent from the line are empty
    std::string gid;
    std::string home;
    std::string shell;
};

// nullopt for a blank line, a comment ('#' first) or a line without a user
// name and ':'.
std::optional<PasswdLine> parse_passwd_line(std::string_view line);

// True when a uid field names the superuser: all digits and numerically 0,
// or a name that the system maps to uid 0.
bool uid_field_is_root(std::string_view uid);

// Scans the file open on `fd` for the first line whose user field is `user`.
// `why` explains an error.
Lookup find_passwd_line(int fd, std::string_view user, PasswdLine& out, std::string& why);

// The uid and gid fields as numbers (each a number or a name the system
// knows; an empty gid is the uid's account's group), into `out`'s uid, gid
// and groups (the gid alone); all three stay empty if either cannot be.
void resolve_passwd_ids(std::string_view uid, std::string_view gid, Account& out);

// Opens `path` and turns the matching line into an Account: HOME defaults to
// "/", SHELL to "/usr/sbin/nologin".
Lookup find_passwd_file_account(const std::string& path, std::string_view user, Account& out,
                                std::string& why);

}  // namespace checkpassword_nosu
