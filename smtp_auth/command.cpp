#include "command.hpp"

namespace smtp_auth {


namespace {
std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}
}  // namespace

std::string_view strip_line_end(std::string_view raw) {
    if (raw.ends_with('\n')) raw.remove_suffix(1);
    if (raw.ends_with('\r')) raw.remove_suffix(1);
    return raw;
}

Command parse_command(std::string_view raw) {
    const auto line = strip_line_end(raw);
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return {upper(line), {}};
    return {upper(line.substr(0, space)), line.substr(space + 1)};
}

std::optional<AuthArguments> parse_auth_arguments(std::string_view argument) {
    const auto skip_spaces = [](std::string_view s) {
        while (s.starts_with(' ')) s.remove_prefix(1);
        return s;
    };
    argument = skip_spaces(argument);
    while (argument.ends_with(' ')) argument.remove_suffix(1);
    if (argument.empty()) return std::nullopt;
    const auto space = argument.find(' ');
    AuthArguments a{upper(argument.substr(0, space)), std::nullopt};
    if (space == std::string_view::npos) return a;
    const auto rest = skip_spaces(argument.substr(space));
    if (rest.find(' ') != std::string_view::npos) return std::nullopt;
    a.initial_response = rest;
    return a;
}

}  // namespace smtp_auth
