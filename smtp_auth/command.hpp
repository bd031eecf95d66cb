// SMTP command lines as qmail-smtpd reads them: the verb runs to the first
// space and is case-insensitive; the line ends at LF, a CR before it dropped.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace smtp_auth {

// The line without its LF and the CR before it.
std::string_view strip_line_end(std::string_view raw);

struct Command {
    std::string verb;       // upper-cased
    std::string_view argument;  // after the first space, as sent
};

Command parse_command(std::string_view raw);

// "AUTH" arguments: mechanism [SP initial-response]. Nothing when there is
// no mechanism or more than two words.
struct AuthArguments {
    std::string mechanism;  // upper-cased
    std::optional<std::string_view> initial_response;
};

std::optional<AuthArguments> parse_auth_arguments(std::string_view argument);

}  // namespace smtp_auth
