// One TLS connection, from the handshake to the end of the relay: what its
// parts share (the event loop, the client's TLS connection, the session's
// socket and exit, the deadline), and the order they run in.
#pragma once
#include <sys/types.h>

#include <chrono>

#include <openssl/types.h>

#include "idle_deadline.hpp"
#include "io.hpp"
#include "tls_client.hpp"

namespace tlsrelay {

struct Negotiated;

// How the session learns the protocol and cipher (SSL_PROTOCOL,
// SSL_CIPHER), or, from EOF, that there is no TLS connection: it then
// closes. Closed either way, once.
class VerdictPipe {
public:
    VerdictPipe() = default;
    ~VerdictPipe() { close(); }
    VerdictPipe(const VerdictPipe&) = delete;
    VerdictPipe& operator=(const VerdictPipe&) = delete;

    // True when the session has been told `negotiated` (null: nothing).
    bool tell(const Negotiated* negotiated);
    void close() noexcept;

private:
    bool open_ = true;
};

struct Connection {
    // Everything Asio opens (its reactor's eventfd, the pidfd) is opened
    // here, before the sandbox, which allows no new descriptor.
    Connection(SSL* ssl, pid_t session_pid, std::chrono::seconds timeout);

    // The relay is done (or has failed, or timed out): whatever still
    // waits is left waiting.
    void end() { io.stop(); }

    asio::io_context io{1};  // one thread
    TlsClient client;
    BorrowedDescriptor session;  // the session's socket: plaintext
    // Readable once the session has exited; closed where the kernel has no
    // pidfd (the relay then ends when the client does).
    asio::posix::stream_descriptor session_exit;
    // The handshake's bound, then the relay's idle timeout (SMTP_TIMEOUT).
    smtpauth::IdleDeadline idle;
    VerdictPipe verdict;
    bool relaying = false;
};

// Handshake, sandbox, verdict, relay. Returns when the connection is done
// or has failed (logged); the verdict pipe is closed either way. True when
// it got as far as relaying.
bool serve_connection(SSL* ssl, pid_t session_pid, std::chrono::seconds timeout);

}  // namespace tlsrelay
