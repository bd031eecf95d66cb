#include "account_report.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace smtpauth {

namespace {

constexpr unsigned long long id_limit = std::numeric_limits<std::uint32_t>::max();  // (uid_t)-1

bool acceptable_home(std::string_view home) {
    if (home.empty() || home.front() != '/' || home.size() > account_max_home) return false;
    return std::none_of(home.begin(), home.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c < 0x20 || c == 0x7f;
    });
}

}  // namespace

std::optional<unsigned> parse_id(std::string_view digits) {
    if (digits.empty() || digits.size() > 10 || (digits.size() > 1 && digits.front() == '0'))
        return std::nullopt;
    unsigned long long n = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n >= id_limit) return std::nullopt;
    return static_cast<unsigned>(n);
}

std::optional<std::vector<gid_t>> parse_id_list(std::string_view text) {
    std::vector<gid_t> ids;
    if (text.empty()) return ids;
    for (;;) {
        const auto comma = text.find(',');
        const auto id = parse_id(text.substr(0, comma));
        if (!id || ids.size() == account_max_groups) return std::nullopt;
        ids.push_back(*id);
        if (comma == std::string_view::npos) return ids;
        text.remove_prefix(comma + 1);
    }
}

std::optional<std::string> format_account(const SessionAccount& a) {
    if (a.uid >= id_limit || a.gid >= id_limit || a.groups.size() > account_max_groups ||
        !acceptable_home(a.home))
        return std::nullopt;
    std::string out = std::to_string(a.uid) + ':' + std::to_string(a.gid) + ':';
    for (std::size_t i = 0; i < a.groups.size(); ++i) {
        if (a.groups[i] >= id_limit) return std::nullopt;
        if (i) out += ',';
        out += std::to_string(a.groups[i]);
    }
    out += ':';
    out += a.home;
    if (out.size() + 1 > account_max_report) return std::nullopt;
    return out;
}

std::optional<SessionAccount> parse_account(std::string_view text) {
    if (text.size() + 1 > account_max_report) return std::nullopt;
    std::string_view field[3];
    for (auto& f : field) {
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        f = text.substr(0, colon);
        text.remove_prefix(colon + 1);
    }
    const auto uid = parse_id(field[0]);
    const auto gid = parse_id(field[1]);
    auto groups = parse_id_list(field[2]);
    if (!uid || !gid || !groups || !acceptable_home(text)) return std::nullopt;
    return SessionAccount{*uid, *gid, std::move(*groups), std::string(text)};
}

std::optional<SessionAccount> parse_account_report(std::string_view report) {
    if (report.empty() || report.back() != '\n') return std::nullopt;
    report.remove_suffix(1);
    return parse_account(report);  // a second LF is a control character in HOME
}

std::string refusal(const SessionAccount& a, uid_t min_uid) {
    if (a.uid == 0) return "uid 0 never gets a session";
    if (a.uid < min_uid)
        return "uid " + std::to_string(a.uid) + " is below " + min_uid_variable + " " + std::to_string(min_uid);
    return "";
}

std::optional<uid_t> parse_min_uid(const char* value) {
    if (value == nullptr || *value == '\0') return default_min_uid;
    const auto n = parse_id(value);
    if (!n || *n == 0) return std::nullopt;
    return *n;
}

}  // namespace smtpauth
