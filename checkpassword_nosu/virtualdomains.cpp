#include "virtualdomains.hpp"

namespace checkpassword_nosu {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

const VirtualDomain* find_key(const VirtualDomains& domains, std::string_view key) {
    for (auto it = domains.rbegin(); it != domains.rend(); ++it)
        if (equal_ignoring_case(it->key, key)) return &*it;
    return nullptr;
}

}  // namespace

VirtualDomains parse_virtualdomains(std::string_view text) {
    VirtualDomains out;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        out.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    return out;
}

std::optional<std::string> virtual_local(const VirtualDomains& domains, std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    for (std::size_t i = 0; i <= address.size(); ++i) {
        if (!(i == 0 || i == at + 1 || i == address.size() || (i > at && address[i] == '.')))
            continue;
        const VirtualDomain* match = find_key(domains, address.substr(i));
        if (match == nullptr) continue;
        if (match->prefix.empty()) return std::nullopt;
        return match->prefix + "-" + std::string(address.substr(0, at));
    }
    return std::nullopt;
}

}  // namespace checkpassword_nosu
