// What crosses smtp_auth's exec of tlsrelay, by number. Nothing secret
// crosses in the arguments or the environment: the key is an open file.
#pragma once

namespace tlsrelay {

constexpr int client_in = 0;    // the client connection (ciphertext), read
constexpr int client_out = 1;   // the same, written
                                // 2: the log
constexpr int session_fd = 3;   // the session's end of a socketpair (plaintext)
constexpr int verdict_fd = 4;   // a pipe to the session: "protocol cipher", or EOF
constexpr int cert_fd = 5;      // TLS_CERT, open for reading
constexpr int key_fd = 6;       // TLS_KEY, open for reading
constexpr int first_unused_fd = 7;

}  // namespace tlsrelay
