// The name qmail-local gives an address's dot-qmail file, and apoppw the
// password file beside it.
#pragma once
#include <string>
#include <string_view>

namespace smtpauth {

// qmail-local's "safe extension": `dash` then `ext` in lower case with every
// '.' turned into ':'. ".qmail" + this names the file that delivers the
// address; ".apop" + this names its mail password.
std::string dot_qmail_suffix(std::string_view dash, std::string_view ext);

// True when `ext` can be part of a file name in the home: no '/' and no NUL.
bool extension_is_safe(std::string_view ext) noexcept;

}  // namespace smtpauth
