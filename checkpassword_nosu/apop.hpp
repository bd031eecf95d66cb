// The apoppw scheme: a mail password per address, kept by its user in the
// .apop file beside the .qmail file that delivers the address.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "account.hpp"
#include "fd3.hpp"
#include "judge.hpp"

namespace checkpassword_nosu {

struct ApopSettings {
    std::string qmail_home = "/var/qmail";
    // Debian's first uid for people (UID_MIN in login.defs): qmail's own
    // accounts, daemons and every other system account are below it.
    std::uint32_t min_uid = 1000;
};

// From QMAILHOME (an absolute path) and CHECKPASSWORD_MIN_UID (a decimal
// number); null or empty means the default. nullopt, with `why`, for a value
// that is not valid.
std::optional<ApopSettings> apop_settings(const char* qmail_home, const char* min_uid,
                                          std::string& why);

// Finds the address's account and password file, refuses uid 0 and uids
// below min_uid, reads the file and lets judge() decide (PLAIN, LOGIN and
// CRAM-MD5 against the plaintext). On success `account` is filled in: USER
// is the account that delivers the address, HOME its directory.
Verdict check_apop(const Credentials& credentials, const ApopSettings& settings,
                   Account& account);

}  // namespace checkpassword_nosu
