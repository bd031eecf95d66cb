#include "dot_qmail.hpp"

namespace smtpauth {

std::string dot_qmail_suffix(std::string_view dash, std::string_view ext) {
    std::string out(dash);
    out.reserve(dash.size() + ext.size());
    for (char c : ext) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == '.') c = ':';
        out.push_back(c);
    }
    return out;
}

bool extension_is_safe(std::string_view ext) noexcept {
    return ext.find('/') == std::string_view::npos && ext.find('\0') == std::string_view::npos;
}

}  // namespace smtpauth
