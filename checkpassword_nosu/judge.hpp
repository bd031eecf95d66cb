// The verdict on one login attempt: who may never log in, and the check.
#pragma once
#include <string>
#include <string_view>

#include "account.hpp"
#include "fd3.hpp"

namespace checkpassword_nosu {

struct Verdict {
    int exit_code = 1;   // 0 accepted, 1 refused, 111 temporary failure
    std::string reason;  // for the log, after the user's name; never the password
};

// `account` is null for an unknown user. Refused always: an empty password,
// the name "root", uid 0, an expired or locked account, an empty secret, an
// unknown scheme, CRAM-MD5 against anything but a plaintext secret. Every
// refusal costs about one crypt, like a wrong password.
Verdict judge(const Credentials& credentials, const Account* account);

// CHECKPASSWORD_FILE (when non-empty) or else the system databases.
Lookup find_account(std::string_view login, const char* passwd_file, Account& out,
                    std::string& why);

}  // namespace checkpassword_nosu
