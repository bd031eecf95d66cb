// The session's end of the verdict pipe: how the relay's handshake went.
#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace smtp_auth {

struct TlsInfo {
    std::string protocol;  // "TLSv1.3"
    std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

// Reads "protocol cipher", then EOF, from `fd` until `deadline`. Nothing
// when the relay said nothing (the handshake failed) or something that does
// not look like the names OpenSSL gives: the relay is unprivileged and
// parses what the client sends, and what it says goes into the environment
// and the log.
std::optional<TlsInfo> read_verdict(int fd, std::chrono::steady_clock::time_point deadline);

}  // namespace smtp_auth
