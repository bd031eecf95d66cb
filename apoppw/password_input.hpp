// Asking for the new mail password: twice, without echo.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "secret.hpp"

namespace apoppw {

// Longer passwords are refused; SASL PLAIN's fd-3 limit leaves room for this.
inline constexpr std::size_t password_limit = 255;

// Why `password` cannot be a mail password, or empty when it can: it must not
// be empty or longer than password_limit, hold no control character (the
// file holds it on one line) and not start with '!' or '*' (checkpassword_nosu
// reads that as a locked account).
std::string password_problem(std::string_view password);

// Reads the password twice from `fd`. On a terminal: prompts on stderr and
// turns echo off while reading (restored on return and on SIGINT, SIGTERM,
// SIGHUP and SIGQUIT). Otherwise (a pipe, a file): two lines, no prompts;
// a CR before the LF is dropped. False with `why` when reading fails, the
// two differ or the password has a problem.
bool read_password_twice(int fd, smtpauth::Secret& password, std::string& why);

}  // namespace apoppw
