#include "apop_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


namespace checkpassword_nosu {

namespace {

struct Descriptor {
    int fd;
    ~Descriptor() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

std::string_view first_line(std::string_view text) noexcept {
    text = text.substr(0, text.find('\n'));
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    return text;
}

ApopFile read_apop_file(const std::string& path, std::uint32_t uid, smtpauth::Secret& password,
                        std::string& why) {
    const std::string& shown = path;
    const auto refuse = [&](std::string_view what) {
        why = shown + " " + std::string(what);
        return ApopFile::refused;
    };
    // lstat first, so that a device node is never opened (opening one can
    // have effects); the fstat below decides.
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return refuse("does not exist");
        if (errno == ENAMETOOLONG) return refuse("is too long a name");
        why = "unable to check " + shown + ": " + std::strerror(errno);
        return ApopFile::error;
    }
    if (S_ISLNK(st.st_mode)) return refuse("is a symlink");
    if (!S_ISREG(st.st_mode)) return refuse("is not a regular file");

    const Descriptor file{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                                                   O_CLOEXEC)};
    if (file.fd < 0) {
        if (errno == ELOOP) return refuse("is a symlink");
        if (errno == ENOENT || errno == ENOTDIR) return refuse("does not exist");
        why = "unable to open " + shown + ": " + std::strerror(errno);
        return ApopFile::error;
    }
    if (::fstat(file.fd, &st) != 0) {
        why = "unable to check " + shown + ": " + std::strerror(errno);
        return ApopFile::error;
    }
    if (!S_ISREG(st.st_mode)) return refuse("is not a regular file");
    if (st.st_uid != uid)
        return refuse("is owned by uid " + std::to_string(st.st_uid) + ", not " +
                      std::to_string(uid));
    if ((st.st_mode & 077) != 0) return refuse("is readable or writable by group or others");
    if (st.st_size > static_cast<off_t>(apop_file_limit))
        return refuse("is larger than " + std::to_string(apop_file_limit) + " bytes");

    smtpauth::Secret content(apop_file_limit + 1);
    content.str().resize(apop_file_limit + 1);
    std::size_t used = 0;
    for (;;) {
        const ssize_t n =
            ::read(file.fd, content.str().data() + used, content.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            why = "unable to read " + shown + ": " + std::strerror(errno);
            return ApopFile::error;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        if (used > apop_file_limit)  // it grew since the fstat
            return refuse("is larger than " + std::to_string(apop_file_limit) + " bytes");
    }
    const std::string_view line = first_line(std::string_view(content.str()).substr(0, used));
    if (line.empty()) return refuse("holds no password on its first line");
    password.clear();
    password.str().reserve(line.size());
    password.str().assign(line);
    return ApopFile::ok;
}

}  // namespace checkpassword_nosu
