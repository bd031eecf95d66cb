// control/virtualdomains as anyone who can write it might, and any address:
// the first line of the input is the address, the rest the file.
// virtual_local must agree with a direct reading of qmail-send's rewrite().
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "virtualdomains.hpp"

using namespace checkpassword_nosu;

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_ci(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto lf = input.find('\n');
    if (lf == std::string_view::npos) return 0;
    const std::string_view address = input.substr(0, lf);
    const std::string_view file = input.substr(lf + 1);

    const VirtualDomains parsed = parse_virtualdomains(file);
    for (const VirtualDomain& d : parsed) {
        FUZZ_CHECK(d.key.find(':') == std::string::npos);
        FUZZ_CHECK(d.key.find('\n') == std::string::npos);
        FUZZ_CHECK(d.prefix.find('\n') == std::string::npos);
        FUZZ_CHECK(d.key.empty() || d.key.front() != '#');
        FUZZ_CHECK(d.prefix.empty() || (d.prefix.back() != ' ' && d.prefix.back() != '\t'));
        FUZZ_CHECK(file.find(d.key + ":" + d.prefix) != std::string_view::npos);
    }

    const auto result = virtual_local(parsed, address);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) {
        FUZZ_CHECK(!result);
        return 0;
    }
    // The model: each candidate key in qmail's order, the last line with it.
    std::optional<std::string> expected;
    for (std::size_t i = 0; i <= address.size(); ++i) {
        if (!(i == 0 || i == at + 1 || i == address.size() || (i > at && address[i] == '.')))
            continue;
        const VirtualDomain* last = nullptr;
        for (const VirtualDomain& d : parsed)
            if (same_ci(d.key, address.substr(i))) last = &d;
        if (last == nullptr) continue;
        if (!last->prefix.empty()) expected = last->prefix + "-" + std::string(address.substr(0, at));
        break;
    }
    FUZZ_CHECK(result == expected);
    if (result) FUZZ_CHECK(result->ends_with("-" + std::string(address.substr(0, at))));
    return 0;
}
