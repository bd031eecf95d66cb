// Which account and directory deliver an address, as qmail decides it:
// control/virtualdomains, then users/assign, then qmail-getpw's rule.
#pragma once
#include <string>
#include <string_view>

#include "account.hpp"
#include "users_assign.hpp"

namespace checkpassword_nosu {

// Both control files are read whole; a bigger one is a temporary failure.
inline constexpr std::size_t control_file_limit = 16 * 1024 * 1024;

// qmail-getpw: the longest prefix of `local` that ends at a '-' (or is all of
// it), shorter than 32 octets, that names (in lower case) an account with a
// uid other than 0 whose home directory it owns. The rest after that '-' is
// the extension. unknown if there is none; error if a home cannot be checked.
Lookup qmail_getpw(std::string_view local, Assignment& out, std::string& why);

// `login` is "local" or "local@domain". A domain goes through
// QMAILHOME/control/virtualdomains (none there: unknown); then the local part
// through QMAILHOME/users/assign when that file exists, else qmail_getpw.
// `why` says what failed (error) or why there is no mailbox (unknown).
Lookup find_mailbox(std::string_view login, const std::string& qmail_home, Assignment& out,
                    std::string& why);

}  // namespace checkpassword_nosu
