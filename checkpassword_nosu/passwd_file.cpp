#include "passwd_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "account_report.hpp"

namespace checkpassword_nosu {

namespace {

// Takes the text up to the next ':' off the front of `rest`.
std::string_view next_field(std::string_view& rest) {
    const auto colon = rest.find(':');
    const auto field = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    return field;
}

std::string upper_case(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

bool is_digits(std::string_view text) {
    for (const char c : text)
        if (c < '0' || c > '9') return false;
    return !text.empty();
}

// Parses only a line that starts with "user:", so other users' secrets are
// never copied.
bool take_if_user(std::string_view line, std::string_view user, PasswdLine& out) {
    if (user.empty() || line.size() <= user.size() || line[user.size()] != ':' ||
        line.substr(0, user.size()) != user)
        return false;
    auto parsed = parse_passwd_line(line);
    if (!parsed || parsed->user != user) return false;
    out = std::move(*parsed);
    return true;
}

}  // namespace

std::optional<PasswdLine> parse_passwd_line(std::string_view line) {
    if (line.empty() || line.front() == '#') return std::nullopt;
    std::string_view rest = line;
    const auto user = next_field(rest);
    if (user.empty() || user.size() == line.size()) return std::nullopt;

    PasswdLine out;
    out.user = user;
    std::string_view secret = next_field(rest);
    out.scheme = "CRYPT";  // Dovecot's default scheme
    if (!secret.empty() && secret.front() == '{') {
        const auto close = secret.find('}');
        if (close != std::string_view::npos) {
            out.scheme = upper_case(secret.substr(1, close - 1));
            secret.remove_prefix(close + 1);
        }
    }
    out.secret.str().reserve(secret.size());
    out.secret.str().assign(secret);
    out.uid = next_field(rest);
    out.gid = next_field(rest);
    next_field(rest);  // gecos
    out.home = next_field(rest);
    out.shell = next_field(rest);
    return out;
}

bool uid_field_is_root(std::string_view uid) {
    if (uid.empty()) return false;
    if (is_digits(uid)) return uid.find_first_not_of('0') == std::string_view::npos;
    const std::string name(uid);
    const struct passwd* pw = ::getpwnam(name.c_str());
    return pw != nullptr && pw->pw_uid == 0;
}

void resolve_passwd_ids(std::string_view uid_field, std::string_view gid_field, Account& out) {
    out.uid.clear();
    out.gid.clear();
    out.groups.clear();
    if (uid_field.empty()) return;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    const struct passwd* pw = nullptr;
    if (is_digits(uid_field)) {
        uid = smtpauth::parse_id(uid_field.substr(std::min(uid_field.find_first_not_of('0'), uid_field.size() - 1)));
        if (uid) pw = ::getpwuid(*uid);
    } else {
        pw = ::getpwnam(std::string(uid_field).c_str());
        if (pw) uid = pw->pw_uid;
    }
    if (gid_field.empty()) {
        if (pw) gid = pw->pw_gid;
    } else if (is_digits(gid_field)) {
        gid = smtpauth::parse_id(gid_field.substr(std::min(gid_field.find_first_not_of('0'), gid_field.size() - 1)));
    } else if (const struct group* gr = ::getgrnam(std::string(gid_field).c_str())) {
        gid = gr->gr_gid;
    }
    if (!uid || !gid) return;
    out.uid = std::to_string(*uid);
    out.gid = out.groups = std::to_string(*gid);
}

Lookup find_passwd_line(int fd, std::string_view user, PasswdLine& out, std::string& why) {
    // Overlong lines are skipped, not stored, so bound the bytes as well.
    constexpr std::size_t bytes_limit = (passwd_line_limit + 1) * passwd_lines_limit;
    constexpr std::size_t chunk_size = 8192;
    smtpauth::Secret chunk(chunk_size);
    chunk.str().resize(chunk_size);
    smtpauth::Secret line(passwd_line_limit);  // never grows past this: no stray copies
    bool overlong = false;
    std::size_t lines = 0;
    std::size_t bytes = 0;
    const auto forget_line = [&line] {
        smtpauth::wipe(line.str().data(), line.size());
        line.str().clear();
    };

    for (;;) {
        const ssize_t n = ::read(fd, chunk.str().data(), chunk_size);
        if (n < 0) {
            if (errno == EINTR) continue;
            why = std::string("unable to read passwd file: ") + std::strerror(errno);
            return Lookup::error;
        }
        if (n == 0) break;
        bytes += static_cast<std::size_t>(n);
        std::string_view data(chunk.str().data(), static_cast<std::size_t>(n));
        while (!data.empty()) {
            if (lines == passwd_lines_limit || bytes > bytes_limit) {
                why = "passwd file has more than " + std::to_string(passwd_lines_limit) +
                      " lines or too many bytes; stopped";
                return Lookup::error;
            }
            const auto newline = data.find('\n');
            const auto piece = data.substr(0, newline);
            if (!overlong) {
                if (line.size() + piece.size() > passwd_line_limit) {
                    overlong = true;
                    forget_line();
                } else {
                    line.str().append(piece);
                }
            }
            if (newline == std::string_view::npos) break;  // continues in the next chunk
            data.remove_prefix(newline + 1);
            ++lines;
            if (!overlong && take_if_user(line.view(), user, out)) return Lookup::found;
            overlong = false;
            forget_line();
        }
    }
    // A last line without a newline.
    if (!overlong && take_if_user(line.view(), user, out)) return Lookup::found;
    return Lookup::unknown;
}

Lookup find_passwd_file_account(const std::string& path, std::string_view user, Account& out,
                                std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = "unable to open passwd file " + path + ": " + std::strerror(errno);
        return Lookup::error;
    }
    PasswdLine line;
    const Lookup result = find_passwd_line(fd, user, line, why);
    ::close(fd);
    if (result != Lookup::found) return result;

    out.user = std::move(line.user);
    out.home = line.home.empty() ? "/" : std::move(line.home);
    out.shell = line.shell.empty() ? "/usr/sbin/nologin" : std::move(line.shell);
    out.uid_zero = uid_field_is_root(line.uid);
    resolve_passwd_ids(line.uid, line.gid, out);
    out.expired = false;
    out.scheme = std::move(line.scheme);
    out.secret = std::move(line.secret);
    return Lookup::found;
}

}  // namespace checkpassword_nosu
