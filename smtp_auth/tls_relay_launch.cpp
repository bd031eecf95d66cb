#include "tls_relay_launch.hpp"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "inherited_fds.hpp"

namespace smtp_auth {

namespace {

bool become(uid_t uid, gid_t gid) {
    // Started unprivileged (tcpserver -u, with Dovecot as the verifier):
    // nothing to drop, as long as we already are that account.
    if (::geteuid() != 0)
        return ::getuid() == uid && ::geteuid() == uid && ::getgid() == gid && ::getegid() == gid;
    return ::setgroups(0, nullptr) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0 && ::getuid() != 0 &&
           ::geteuid() != 0;
}

// Each descriptor to its number: first all out of the way (a source may
// sit on another's target), then into place (dup2 clears close-on-exec),
// then everything else closed.
bool lay_out(const int (&from)[4]) {
    int high[4];
    for (int i = 0; i < 4; ++i)
        if ((high[i] = ::fcntl(from[i], F_DUPFD_CLOEXEC, 10)) < 0) return false;
    for (int i = 0; i < 4; ++i)
        if (::dup2(high[i], tlsrelay::session_fd + i) < 0) return false;
    return ::close_range(tlsrelay::first_unused_fd, ~0U, 0) == 0;
}

}  // namespace

std::string relay_program_path() {
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof self) return "";
    // A replaced executable reads "/path/smtp_auth (deleted)": the folder
    // is still the right one.
    const std::string path(self, static_cast<std::size_t>(n));
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? "" : path.substr(0, slash + 1) + "tlsrelay";
}

void exec_relay(const std::string& program, const TlsConfig& config, pid_t session, std::chrono::seconds timeout,
                const std::string& remote_ip, int plain, int verdict, int cert, int key, std::string& error) {
    static_assert(tlsrelay::verdict_fd == tlsrelay::session_fd + 1 && tlsrelay::cert_fd == tlsrelay::session_fd + 2 &&
                  tlsrelay::key_fd == tlsrelay::session_fd + 3 && tlsrelay::first_unused_fd == tlsrelay::key_fd + 1);
    if (!become(config.relay_uid, config.relay_gid)) {
        error = "unable to drop privileges";
        return;
    }
    // Nothing the relay runs may gain what this process has given up.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || !lay_out({plain, verdict, cert, key})) {
        error = std::string("unable to prepare the relay: ") + std::strerror(errno);
        return;
    }
    const std::string pid = std::to_string(session), seconds = std::to_string(timeout.count());
    const char* argv[] = {program.c_str(), pid.c_str(), seconds.c_str(), remote_ip.c_str(), nullptr};
    // The relay's settings, and nothing else of the launcher's environment.
    std::vector<std::string> settings;
    if (!config.settings.ciphers.empty()) settings.push_back("TLS_CIPHERS=" + config.settings.ciphers);
    if (!config.settings.ciphersuites.empty()) settings.push_back("TLS_CIPHERSUITES=" + config.settings.ciphersuites);
    if (config.settings.min_version == TLS1_3_VERSION) settings.emplace_back("TLS_MIN_PROTOCOL=TLSv1.3");
#if defined(__SANITIZE_ADDRESS__)
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
        if (const char* v = std::getenv(name)) settings.push_back(std::string(name) + "=" + v);
#endif
    std::vector<const char*> envp;
    for (const auto& s : settings) envp.push_back(s.c_str());
    envp.push_back(nullptr);
    ::execve(program.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp.data()));
    error = "unable to run " + program + ": " + std::strerror(errno);
}

}  // namespace smtp_auth
