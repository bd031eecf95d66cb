// The TLS relay's loop: ciphertext on the client socket (fds 0 and 1),
// plaintext on the session's socket. Each direction is a buffer filled from
// one side and drained into the other; the loop polls only when neither
// direction can move.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <vector>

#include <openssl/types.h>

namespace tlsrelay {

class RelayLoop {
public:
    // `session` only names the session in the log.
    RelayLoop(SSL* ssl, int plain, std::chrono::seconds idle) : ssl_(ssl), plain_(plain), idle_(idle) {}

    // Until both directions are closed, or `idle` passes with nothing moved.
    void run();

private:
    static constexpr std::size_t max_record = 16384;

    struct Buffer {
        std::vector<char> data = std::vector<char>(65536);
        std::size_t begin = 0, end = 0;
        bool empty() const { return begin == end; }
    };

    bool client_to_session();
    bool session_to_client();
    bool want(int result);
    bool wait();

    SSL* ssl_;
    int plain_;
    std::chrono::seconds idle_;
    Buffer down_, up_;
    short net_events_ = 0, plain_events_ = 0;
    bool client_eof_ = false, session_eof_ = false;
    bool to_session_closed_ = false, to_client_closed_ = false;
    bool client_hung_up_ = false, session_hung_up_ = false;  // seen once, no longer polled
};

}  // namespace tlsrelay
