#include "tls_config.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace smtp_auth {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

unsigned long parse_id(const char* name) {
    const std::string s = env(name);
    unsigned long n = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || n == 0 || n > 0x7fffffff)
        throw std::invalid_argument(std::string(name) +
                                    " must name the unprivileged account for the TLS relay (use envuidgid)");
    return n;
}

}  // namespace

TlsConfig tls_config_from_environment() {
    TlsConfig c;
    c.cert_file = env("TLS_CERT");
    c.key_file = env("TLS_KEY");
    if (c.key_file.empty()) c.key_file = c.cert_file;
    c.implicit = !env("SMTPS").empty();
    c.allow_plaintext_auth = !env("AUTH_PLAINTEXT").empty();
    c.settings.ciphers = env("TLS_CIPHERS");
    c.settings.ciphersuites = env("TLS_CIPHERSUITES");
    c.settings.min_version = tlsrelay::min_version_from_name(env("TLS_MIN_PROTOCOL"));
    if (c.settings.min_version == 0) throw std::invalid_argument("TLS_MIN_PROTOCOL must be TLSv1.2 or TLSv1.3");
    if (!c.enabled()) {
        if (c.implicit) throw std::invalid_argument("SMTPS needs TLS_CERT");
        return c;
    }
    c.relay_uid = static_cast<uid_t>(parse_id("UID"));
    c.relay_gid = static_cast<gid_t>(parse_id("GID"));
    return c;
}

}  // namespace smtp_auth
