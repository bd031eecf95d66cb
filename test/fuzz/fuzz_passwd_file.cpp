// A passwd-file as anyone who can write it might: the first line of the
// input names the user to look up, the rest is the file. find_passwd_line
// reads it through a real descriptor and must agree with a line-by-line
// reading of the contract; parse_passwd_line sees every line.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "passwd_file.hpp"

using namespace checkpassword_nosu;

namespace {

int descriptor_with(std::string_view bytes) {
    const int fd = ::memfd_create("passwd", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    for (std::string_view rest = bytes; !rest.empty();) {
        const ssize_t n = ::write(fd, rest.data(), rest.size());
        FUZZ_CHECK(n > 0);
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    FUZZ_CHECK(::lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

bool has_lower(std::string_view s) {
    for (const char c : s)
        if (c >= 'a' && c <= 'z') return true;
    return false;
}

std::optional<PasswdLine> checked_parse(std::string_view line) {
    auto p = parse_passwd_line(line);
    if (line.empty() || line.front() == '#' || line.find(':') == std::string_view::npos ||
        line.front() == ':') {
        FUZZ_CHECK(!p);
        return p;
    }
    FUZZ_CHECK(p.has_value());
    FUZZ_CHECK(line.starts_with(p->user + ":"));
    FUZZ_CHECK(!has_lower(p->scheme));
    for (const std::string_view field : {std::string_view(p->user), p->secret.view(),
                                         std::string_view(p->uid), std::string_view(p->home),
                                         std::string_view(p->shell)})
        FUZZ_CHECK(field.find(':') == std::string_view::npos);
    return p;
}

bool same(const PasswdLine& a, const PasswdLine& b) {
    return a.user == b.user && a.scheme == b.scheme && a.secret.view() == b.secret.view() &&
           a.uid == b.uid && a.home == b.home && a.shell == b.shell;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto lf = input.find('\n');
    if (lf == std::string_view::npos) return 0;
    const std::string_view user = input.substr(0, lf);
    const std::string_view file = input.substr(lf + 1);

    // The first line, no longer than the limit, that belongs to `user`.
    std::optional<PasswdLine> expected;
    for (std::string_view rest = file;;) {
        const auto end = rest.find('\n');
        const auto line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        auto parsed = checked_parse(line);
        if (!expected && !user.empty() && line.size() <= passwd_line_limit && parsed && parsed->user == user)
            expected = std::move(parsed);
        if (end == std::string_view::npos) break;
    }

    const int fd = descriptor_with(file);
    PasswdLine found;
    std::string why;
    const Lookup result = find_passwd_line(fd, user, found, why);
    ::close(fd);
    FUZZ_CHECK(result != Lookup::error);
    FUZZ_CHECK((result == Lookup::found) == expected.has_value());
    if (expected) {
        FUZZ_CHECK(same(found, *expected));
        // A uid of digits is root exactly when it is all zeros.
        const std::string_view uid = found.uid;
        if (!uid.empty() && uid.find_first_not_of("0123456789") == std::string_view::npos)
            FUZZ_CHECK(uid_field_is_root(uid) == (uid.find_first_not_of('0') == std::string_view::npos));
    }
    return 0;
}
