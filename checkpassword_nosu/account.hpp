// An account as the checker sees it, whichever database it came from.
#pragma once
#include <string>

#include "secret.hpp"

namespace checkpassword_nosu {

struct Account {
    std::string user;
    std::string home;
    std::string shell;
    bool uid_zero = false;     // the superuser, by number or by name
    bool expired = false;      // shadow's account expiry date has passed
    std::string scheme;        // upper case: "PLAIN", "CRYPT", "SHA512-CRYPT", ...
    smtpauth::Secret secret;   // plaintext password or crypt(3) string
};

// How a lookup ended: `error` is a temporary failure (exit 111), for instance
// a database that cannot be read.
enum class Lookup { found, unknown, error };

}  // namespace checkpassword_nosu
