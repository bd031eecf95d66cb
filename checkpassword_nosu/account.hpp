// An account as the checker sees it, whichever database it came from.
#pragma once
#include <string>

#include "secret.hpp"

namespace checkpassword_nosu {

struct Account {
    std::string user;
    std::string home;
    std::string shell;
    // The ids a session as this account runs with, decimal, for a PROG that
    // switches to it (authreport): CHECKPASSWORD_UID, _GID, _GROUPS ("1,2").
    // Empty when the database names no account (a passwd-file line
    // without uid).
    std::string uid, gid, groups;
    bool uid_zero = false;     // the superuser, by number or by name
    bool expired = false;      // shadow's account expiry date has passed
    std::string scheme;        // upper case: "PLAIN", "CRYPT", "SHA512-CRYPT", ...
    smtpauth::Secret secret;   // plaintext password or crypt(3) string
};

// How a lookup ended: `error` is a temporary failure (exit 111), for instance
// a database that cannot be read.
enum class Lookup { found, unknown, error };

}  // namespace checkpassword_nosu
