// Command lines as the client sends them: strip_line_end, parse_command and
// parse_auth_arguments on any bytes, checked against a plain reading of
// their contracts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "command.hpp"

using namespace smtp_auth;

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

char upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

bool same_ignoring_case(std::string_view upper_case, std::string_view sent) {
    if (upper_case.size() != sent.size()) return false;
    for (std::size_t i = 0; i < sent.size(); ++i)
        if (upper_case[i] != upper(sent[i])) return false;
    return true;
}

// `part` lies inside `whole` (it is a view into it, not a copy).
bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        const auto space = s.find(' ');
        if (space != 0) out.push_back(s.substr(0, space));
        if (space == std::string_view::npos) break;
        s.remove_prefix(space + 1);
    }
    return out;
}

void check_auth_arguments(std::string_view argument) {
    const auto parsed = parse_auth_arguments(argument);
    const auto w = words(argument);
    if (w.empty() || w.size() > 2) {
        FUZZ_CHECK(!parsed);
        return;
    }
    FUZZ_CHECK(parsed.has_value());
    FUZZ_CHECK(same_ignoring_case(parsed->mechanism, w[0]));
    FUZZ_CHECK(parsed->initial_response.has_value() == (w.size() == 2));
    if (parsed->initial_response) {
        FUZZ_CHECK(*parsed->initial_response == w[1]);
        FUZZ_CHECK(inside(*parsed->initial_response, argument));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);

    const std::string_view line = strip_line_end(raw);
    FUZZ_CHECK(line.data() == raw.data());
    const std::size_t cut = raw.size() - line.size();
    FUZZ_CHECK(cut <= 2);
    if (raw.ends_with("\r\n")) {
        FUZZ_CHECK(cut == 2);
    } else if (raw.ends_with('\n') || raw.ends_with('\r')) {
        FUZZ_CHECK(cut == 1);
    } else {
        FUZZ_CHECK(cut == 0);
    }

    const Command command = parse_command(raw);
    const auto space = line.find(' ');
    FUZZ_CHECK(same_ignoring_case(command.verb, line.substr(0, space)));
    if (space == std::string_view::npos) {
        FUZZ_CHECK(command.argument.empty());
    } else {
        FUZZ_CHECK(command.argument == line.substr(space + 1));
        FUZZ_CHECK(inside(command.argument, line));
    }

    check_auth_arguments(command.argument);
    check_auth_arguments(line);
    return 0;
}
