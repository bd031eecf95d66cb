// format_log_line on any fields (split at NUL: program, ip, event, user,
// outcome, detail): one line, under PIPE_BUF, nothing unprintable, and the
// fields where a reader finds them. The user ends at the first quote after
// `user "`, so no user name moves the address or the outcome.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "log.hpp"

using namespace smtpauth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> f;
    while (f.size() < 5) {
        const auto nul = input.find('\0');
        if (nul == std::string_view::npos) break;
        f.push_back(input.substr(0, nul));
        input.remove_prefix(nul + 1);
    }
    f.push_back(input);
    f.resize(6);
    const std::string_view program = f[0], ip = f[1], event = f[2], user = f[3], outcome = f[4], detail = f[5];

    for (const bool with_user : {false, true}) {
        const auto line = format_log_line({program, 1234, ip, event, with_user ? std::optional(user) : std::nullopt,
                                           outcome, detail});
        FUZZ_CHECK(line.size() < PIPE_BUF);
        FUZZ_CHECK(!line.empty() && line.back() == '\n');
        for (std::size_t i = 0; i + 1 < line.size(); ++i) {
            const auto c = static_cast<unsigned char>(line[i]);
            FUZZ_CHECK(c >= 0x20 && c < 0x7f);
        }
        const std::string prefix = escape_for_log(program, 32) + ": pid 1234 from " + escape_for_log(ip, 64) + ": ";
        FUZZ_CHECK(line.starts_with(prefix));
        if (with_user) {
            // The first quote in the line opens the user field; the next one closes it.
            const auto open = line.find('"');
            FUZZ_CHECK(open != std::string::npos && line.substr(open - 6, 6) == " user ");
            const auto close = line.find('"', open + 1);
            FUZZ_CHECK(close != std::string::npos);
            FUZZ_CHECK(line.substr(open + 1, close - open - 1) == escape_for_log(user, 128));
            FUZZ_CHECK(line.substr(close, 3) == "\": ");
        }
    }
    return 0;
}
