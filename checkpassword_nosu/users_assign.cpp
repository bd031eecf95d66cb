#include "users_assign.hpp"

#include <charconv>

namespace checkpassword_nosu {

namespace {

std::string lower_case(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool parse_id(std::string_view field, std::uint32_t& out) {
    if (field.empty() || field.size() > 10) return false;
    for (const char c : field)
        if (c < '0' || c > '9') return false;
    std::uint64_t value = 0;
    std::from_chars(field.data(), field.data() + field.size(), value);
    if (value >= 0xffffffffu) return false;  // (uid_t)-1 means "no change" to the kernel
    out = static_cast<std::uint32_t>(value);
    return true;
}

// Takes the text up to the next ':' off the front of `rest`; false if none.
bool next_field(std::string_view& rest, std::string_view& field) {
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos) return false;
    field = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
    return true;
}

}  // namespace

std::optional<UsersAssign> parse_users_assign(std::string_view text, std::string& why) {
    UsersAssign out;
    for (std::size_t number = 1;; ++number) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        if (!line.empty() && line.front() == '.') return out;
        const auto bad = [&](std::string_view what) {
            why = "users/assign line " + std::to_string(number) + ": " + std::string(what);
            return std::nullopt;
        };
        if (newline == std::string_view::npos)
            return bad("missing; the file must end with a line \".\"");
        text.remove_prefix(newline + 1);
        if (line.find('\0') != std::string_view::npos) return bad("holds a NUL");
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return bad("no address field");

        AssignLine entry;
        entry.wildcard = line.front() == '+';
        entry.key = lower_case(line.substr(1, colon - 1));
        std::string_view rest = line.substr(colon + 1);
        std::string_view user, uid, gid, home, dash, ext;
        if (!next_field(rest, user) || !next_field(rest, uid) || !next_field(rest, gid) ||
            !next_field(rest, home) || !next_field(rest, dash) || !next_field(rest, ext))
            return bad("fewer than seven fields");
        if (!parse_id(uid, entry.to.uid) || !parse_id(gid, entry.to.gid))
            return bad("uid or gid is not a number");
        entry.to.user = user;
        entry.to.home = home;
        entry.to.dash = dash;
        entry.to.ext = ext;
        out.lines.push_back(std::move(entry));
    }
}

std::optional<Assignment> assign_lookup(const UsersAssign& assign, std::string_view local) {
    const std::string lower = lower_case(local);
    for (const AssignLine& line : assign.lines)
        if (!line.wildcard && line.key == lower) return line.to;
    // One pass: the longest prefix, and of equal ones the first line.
    const AssignLine* best = nullptr;
    for (const AssignLine& line : assign.lines)
        if (line.wildcard && lower.starts_with(line.key) &&
            (best == nullptr || line.key.size() > best->key.size()))
            best = &line;
    if (best != nullptr) {
        Assignment out = best->to;
        out.ext += local.substr(best->key.size());
        return out;
    }
    return std::nullopt;
}

}  // namespace checkpassword_nosu
