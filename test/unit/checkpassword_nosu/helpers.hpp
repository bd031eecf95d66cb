// Real files, pipes and hashes for the checkpassword_nosu tests.
#pragma once
#include <crypt.h>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>

namespace test_helpers {

// A file in TMPDIR (or /tmp) with the given contents, removed afterwards.
class TempFile {
public:
    explicit TempFile(std::string_view contents) {
        const char* dir = std::getenv("TMPDIR");
        path_ = std::string(dir && *dir ? dir : "/tmp") + "/cpnosu_test_XXXXXX";
        const int fd = ::mkstemp(path_.data());
        if (fd < 0) throw std::runtime_error("mkstemp failed");
        std::string_view rest = contents;
        while (!rest.empty()) {
            const ssize_t n = ::write(fd, rest.data(), rest.size());
            if (n <= 0) {
                ::close(fd);
                throw std::runtime_error("write failed");
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
        ::close(fd);
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A crypt(3) string for `password` with a fresh salt of the family `prefix`
// ("$y$", "$6$", "$2b$", "$1$", ...), made by libxcrypt itself.
inline std::string make_hash(const char* prefix, const char* password) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (::crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting) == nullptr)
        throw std::runtime_error(std::string("crypt_gensalt_rn failed for ") + prefix);
    crypt_data data{};
    const char* hash = ::crypt_rn(password, setting, &data, sizeof data);
    if (hash == nullptr) throw std::runtime_error("crypt_rn failed");
    return hash;
}

}  // namespace test_helpers
