// The account report (authreport -> smtp_auth) and SMTPAUTH_ACCOUNT
// (smtp_auth -> authuidgid): whatever parses is within the bounds and
// formats back to the very same bytes, so one account has one spelling.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "account_report.hpp"
#include "check.hpp"

using namespace smtpauth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (const auto a = parse_account_report(input)) {
        FUZZ_CHECK(input.size() <= account_max_report);
        FUZZ_CHECK(a->groups.size() <= account_max_groups);
        FUZZ_CHECK(!a->home.empty() && a->home.front() == '/' && a->home.size() <= account_max_home);
        const auto line = format_account(*a);
        FUZZ_CHECK(line.has_value());
        FUZZ_CHECK(*line + '\n' == input);
        FUZZ_CHECK(parse_account(*line) == a);
    }
    if (const auto a = parse_account(input)) {
        FUZZ_CHECK(input.find('\n') == std::string_view::npos && input.find('\0') == std::string_view::npos);
        FUZZ_CHECK(format_account(*a) == std::string(input));
    }
    if (const auto ids = parse_id_list(input)) FUZZ_CHECK(ids->size() <= account_max_groups);
    return 0;
}
