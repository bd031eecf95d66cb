#include "password_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.hpp"

namespace apoppw {

namespace {

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

bool write_password_file(const std::string& dir, const std::string& name,
                         std::string_view password, std::string& why) {
    const std::string target = dir + "/" + name;
    std::string temporary = dir + "/" + name + ".tmpXXXXXX";
    const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);  // mode 0600, O_EXCL
    if (fd < 0) {
        why = "unable to create a file in " + dir + ": " + std::strerror(errno);
        return false;
    }
    const auto fail = [&](std::string_view what) {
        why = std::string(what) + ": " + std::strerror(errno);
        ::close(fd);
        ::unlink(temporary.c_str());
        return false;
    };
    if (::fchmod(fd, 0600) != 0) return fail("unable to set mode 0600 on " + temporary);
    smtpauth::Secret content(password.size() + 1);
    content.str().assign(password);
    content.str().push_back('\n');
    if (!write_all(fd, content.view())) return fail("unable to write " + temporary);
    if (::fsync(fd) != 0) return fail("unable to sync " + temporary);
    if (::close(fd) != 0) {
        why = "unable to write " + temporary + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    if (::rename(temporary.c_str(), target.c_str()) != 0) {
        why = "unable to rename " + temporary + " to " + target + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    // The rename itself must survive a crash.
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
        why = "unable to sync " + dir + ": " + std::strerror(errno);
        if (dir_fd >= 0) ::close(dir_fd);
        return false;
    }
    ::close(dir_fd);
    return true;
}

}  // namespace apoppw
