#include "mailbox.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtualdomains.hpp"

namespace checkpassword_nosu {

namespace {

enum class FileRead { ok, missing, error };

FileRead read_control_file(const std::string& path, std::string& out, std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return FileRead::missing;
        why = "unable to open " + path + ": " + std::strerror(errno);
        return FileRead::error;
    }
    out.clear();
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            why = "unable to read " + path + ": " + std::strerror(errno);
            ::close(fd);
            return FileRead::error;
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > control_file_limit) {
            why = path + " is larger than " +
                  std::to_string(control_file_limit) + " bytes";
            ::close(fd);
            return FileRead::error;
        }
        out.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return FileRead::ok;
}

// errno values qmail's error_temp() calls temporary for a stat(2).
bool temporary(int error) noexcept {
    return error == EIO || error == ENOMEM || error == EAGAIN || error == ENFILE ||
           error == EMFILE || error == ETIMEDOUT || error == ESTALE || error == EINTR;
}

}  // namespace

Lookup qmail_getpw(std::string_view local, Assignment& out, std::string& why) {
    constexpr std::size_t name_limit = 32;  // qmail-getpw's GETPW_USERLEN
    for (std::size_t end = local.size() + 1; end-- > 0;) {
        if (end != local.size() && local[end] != '-') continue;
        if (end >= name_limit || end == 0) continue;
        std::string name(local.substr(0, end));
        for (char& c : name)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        const struct passwd* pw = ::getpwnam(name.c_str());
        if (pw == nullptr || pw->pw_uid == 0) continue;
        struct stat st {};
        if (::stat(pw->pw_dir, &st) != 0) {
            if (temporary(errno)) {
                why = "unable to check the home of " + name + ": " + std::strerror(errno);
                return Lookup::error;
            }
            continue;
        }
        if (st.st_uid != pw->pw_uid) continue;
        out.user = pw->pw_name;
        out.uid = pw->pw_uid;
        out.gid = pw->pw_gid;
        out.home = pw->pw_dir;
        const bool has_ext = end < local.size();
        out.dash = has_ext ? "-" : "";
        out.ext = has_ext ? std::string(local.substr(end + 1)) : std::string();
        return Lookup::found;
    }
    why = "no account delivers this address";
    return Lookup::unknown;
}

Lookup find_mailbox(std::string_view login, const std::string& qmail_home, Assignment& out,
                    std::string& why) {
    std::string local(login);
    std::string text;
    if (login.find('@') != std::string_view::npos) {
        const std::string path = qmail_home + "/control/virtualdomains";
        switch (read_control_file(path, text, why)) {
        case FileRead::error: return Lookup::error;
        case FileRead::missing: why = "no control/virtualdomains for a domain"; return Lookup::unknown;
        case FileRead::ok: break;
        }
        const auto rewritten = virtual_local(parse_virtualdomains(text), login);
        if (!rewritten) {
            why = "domain not in control/virtualdomains";
            return Lookup::unknown;
        }
        local = *rewritten;
    }
    const std::string path = qmail_home + "/users/assign";
    switch (read_control_file(path, text, why)) {
    case FileRead::error: return Lookup::error;
    case FileRead::missing: return qmail_getpw(local, out, why);
    case FileRead::ok: break;
    }
    const auto assign = parse_users_assign(text, why);
    if (!assign) return Lookup::error;
    if (const auto found = assign_lookup(*assign, local)) {
        out = *found;
        return Lookup::found;
    }
    return qmail_getpw(local, out, why);
}

}  // namespace checkpassword_nosu
