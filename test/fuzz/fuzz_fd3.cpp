// What a checkpassword caller writes on descriptor 3, as any bytes:
// read_credentials through a real descriptor, parse_credentials, and the
// CRAM-MD5 check the third field can lead to.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "fd3.hpp"
#include "secret.hpp"
#include "verify.hpp"

using namespace checkpassword_nosu;

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// A descriptor that reads back `bytes`, then end of file.
int descriptor_with(std::string_view bytes) {
    const int fd = ::memfd_create("fd3", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    for (std::string_view rest = bytes; !rest.empty();) {
        const ssize_t n = ::write(fd, rest.data(), rest.size());
        FUZZ_CHECK(n > 0);
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    FUZZ_CHECK(::lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

void check_parse(std::string_view data) {
    const auto c = parse_credentials(data);
    const auto nuls = std::count(data.begin(), data.end(), '\0');
    if (nuls < 2) {
        FUZZ_CHECK(!c);
        return;
    }
    FUZZ_CHECK(c.has_value());
    for (const auto field : {c->login, c->password, c->third}) {
        FUZZ_CHECK(inside(field, data));
        FUZZ_CHECK(field.find('\0') == std::string_view::npos);
    }
    // login NUL password NUL third [NUL ...]
    FUZZ_CHECK(c->login.data() == data.data());
    FUZZ_CHECK(c->login.data() + c->login.size() + 1 == c->password.data());
    FUZZ_CHECK(c->password.data() + c->password.size() + 1 == c->third.data());
    const std::size_t after_third = static_cast<std::size_t>(c->third.data() - data.data()) + c->third.size();
    FUZZ_CHECK(after_third == data.size() || data[after_third] == '\0');

    const bool cram = looks_like_cram_challenge(c->third);
    FUZZ_CHECK(cram == (c->third.size() >= 3 && c->third.front() == '<' && c->third.back() == '>' &&
                        c->third.find('@') != std::string_view::npos));

    // The client's digest against the one computed for "secret": equal,
    // either case, exactly when verify_cram_md5 says so.
    smtpauth::Secret expected;
    FUZZ_CHECK(cram_md5_hex("secret", c->third, expected));
    FUZZ_CHECK(expected.size() == 32);
    std::string lower(c->password);
    for (char& ch : lower)
        if (ch >= 'A' && ch <= 'F') ch = static_cast<char>(ch - 'A' + 'a');
    const auto result = verify_cram_md5(c->password, "secret", c->third);
    FUZZ_CHECK((result == CramResult::match) == (lower == expected.view()));
    FUZZ_CHECK(result != CramResult::error);

    (void)scheme_kind(c->login);
    FUZZ_CHECK(is_locked(c->password) == (c->password.starts_with('!') || c->password.starts_with('*')));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    const int fd = descriptor_with(input);
    smtpauth::Secret read;
    const ReadResult result = read_credentials(fd, read);
    ::close(fd);
    if (input.size() <= credentials_limit) {
        FUZZ_CHECK(result == ReadResult::ok);
        FUZZ_CHECK(read.view() == input);
    } else {
        FUZZ_CHECK(result == ReadResult::too_long);
        FUZZ_CHECK(read.size() > credentials_limit);
        FUZZ_CHECK(input.starts_with(read.view()));
    }

    check_parse(input);
    if (result == ReadResult::ok) check_parse(read.view());
    return 0;
}
