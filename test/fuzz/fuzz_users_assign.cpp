// users/assign as anyone who can write it might, and any local part: the
// first line of the input is the local part, the rest the file. A parsed
// file must hold what its lines say; the lookup must agree with qmail-lspawn.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "users_assign.hpp"

using namespace checkpassword_nosu;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto lf = input.find('\n');
    if (lf == std::string_view::npos) return 0;
    const std::string_view local = input.substr(0, lf);
    const std::string_view file = input.substr(lf + 1);

    std::string why;
    const auto parsed = parse_users_assign(file, why);
    if (!parsed) {
        FUZZ_CHECK(why.starts_with("users/assign line "));
        return 0;
    }
    // A file that parses has a '.' line; each line before it is a record.
    std::size_t records = 0;
    for (std::string_view rest = file;;) {
        const auto end = rest.find('\n');
        const auto line = rest.substr(0, end);
        if (!line.empty() && line.front() == '.') break;
        FUZZ_CHECK(end != std::string_view::npos);
        FUZZ_CHECK(records < parsed->lines.size());
        const AssignLine& entry = parsed->lines[records++];
        FUZZ_CHECK(entry.wildcard == (line.front() == '+'));
        FUZZ_CHECK(entry.key == lower(line.substr(1, line.find(':') - 1)));
        for (const std::string_view field :
             {std::string_view(entry.to.user), std::string_view(entry.to.home),
              std::string_view(entry.to.dash), std::string_view(entry.to.ext)})
            FUZZ_CHECK(field.find(':') == std::string_view::npos &&
                       field.find('\n') == std::string_view::npos);
        FUZZ_CHECK(entry.to.uid != 0xffffffffu && entry.to.gid != 0xffffffffu);
        rest.remove_prefix(end + 1);
    }
    FUZZ_CHECK(records == parsed->lines.size());

    // The lookup, against qmail-lspawn's loop: the exact key, then every
    // prefix from the longest; for equal keys the first line.
    const std::string key = lower(local);
    std::optional<Assignment> expected;
    for (const AssignLine& e : parsed->lines)
        if (!e.wildcard && e.key == key) {
            expected = e.to;
            break;
        }
    for (std::size_t n = key.size() + 1; !expected && n-- > 0;)
        for (const AssignLine& e : parsed->lines)
            if (e.wildcard && e.key == std::string_view(key).substr(0, n)) {
                expected = e.to;
                expected->ext += local.substr(n);
                break;
            }
    const auto found = assign_lookup(*parsed, local);
    FUZZ_CHECK(found.has_value() == expected.has_value());
    if (found) {
        FUZZ_CHECK(found->user == expected->user && found->uid == expected->uid &&
                   found->gid == expected->gid && found->home == expected->home &&
                   found->dash == expected->dash && found->ext == expected->ext);
    }
    return 0;
}
