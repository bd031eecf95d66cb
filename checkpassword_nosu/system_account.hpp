// System accounts: the passwd and shadow databases (getpwnam, getspnam).
#pragma once
#include <ctime>
#include <string>
#include <string_view>

#include "account.hpp"

namespace checkpassword_nosu {

// shadow(5) sp_expire: days since 1970-01-01, -1 (or any negative) for never.
// The account is expired from that day on, as pam_unix sees it.
bool shadow_expired(long expire_day, long today) noexcept;

long days_since_epoch(std::time_t now) noexcept;

// Finds `user` in the system databases. The hash comes from shadow; a user
// with no shadow entry uses pw_passwd (unless it is "x"). A shadow entry that
// cannot be read (not running as root) is an error.
Lookup find_system_account(std::string_view user, Account& out, std::string& why);

}  // namespace checkpassword_nosu
