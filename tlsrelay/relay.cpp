#include "relay.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <vector>

#include "connection.hpp"
#include "inherited_fds.hpp"

namespace tlsrelay {

namespace {

using Want = TlsClient::Want;

constexpr std::size_t max_record = 16384;
constexpr std::size_t buffer_size = 65536;

class Relay {
public:
    explicit Relay(Connection& c) : c_(c), ssl_(c.client.ssl()) {}

    static void start(std::shared_ptr<Relay> relay) {
        auto& io = relay->c_.io;
        asio::co_spawn(io, relay->client_to_session(relay), asio::detached);
        asio::co_spawn(io, relay->session_to_client(relay), asio::detached);
        asio::co_spawn(io, relay->await_session_exit(relay), asio::detached);
    }

private:
    // Decrypts what the client sends and passes it to the session.
    asio::awaitable<void> client_to_session(std::shared_ptr<Relay>) {
        for (;;) {
            // Every record already at hand goes into the buffer: one write
            // to the session then carries several (a record is 16 KiB at most).
            std::size_t got = 0;
            int last;
            do {
                last = SSL_read(ssl_, down_.data() + got, static_cast<int>(down_.size() - got));
                if (last > 0) got += static_cast<std::size_t>(last);
            } while (last > 0 && down_.size() - got >= max_record && SSL_has_pending(ssl_));
            // Why the last read stopped, asked at once (not used when it read).
            const Want want = last > 0 ? Want::read : c_.client.want(last);
            if (got > 0) {
                // Not `if (!co_await ...)`: g++ 12 miscompiles a co_await in a condition.
                const bool passed_on = co_await to_session(got);
                if (!passed_on) break;  // the session is gone: nobody to tell
            }
            if (last > 0) continue;
            if (want == Want::nothing) break;  // close_notify, a reset or a TLS error
            co_await c_.client.ready(want);
        }
        ::shutdown(session_fd, SHUT_WR);
        client_done_ = true;
        end_if_done();
    }

    // Encrypts what the session answers and sends it to the client.
    asio::awaitable<void> session_to_client(std::shared_ptr<Relay>) {
        bool client_there = true;
        for (;;) {
            const ssize_t n = ::read(session_fd, up_.data(), up_.size());
            if (n > 0) {
                c_.idle.moved();
                client_there = co_await to_client(static_cast<std::size_t>(n));
                if (!client_there) break;
            } else if (n < 0 && errno == EAGAIN) {
                Error ignored;
                co_await c_.session.async_wait(Wait::wait_read, into(ignored));
            } else if (n == 0 || errno != EINTR) {
                break;  // the session has said all it will
            }
        }
        if (client_there) {
            SSL_shutdown(ssl_);  // close_notify (RFC 8314 3.4)
            ::shutdown(client_out, SHUT_WR);
        }
        // A client that cannot be written to is gone: what it still sends
        // would answer nothing.
        session_done_ = true;
        client_done_ = client_done_ || !client_there;
        end_if_done();
    }

    // The session's exit: once it has also closed its end and everything
    // it said has been passed on, what the client still sends has nowhere
    // to go, so the relay does not wait for the client to hang up.
    asio::awaitable<void> await_session_exit(std::shared_ptr<Relay>) {
        if (!c_.session_exit.is_open()) co_return;
        Error error;
        co_await c_.session_exit.async_wait(Wait::wait_read, into(error));
        if (error) co_return;
        session_exited_ = true;
        end_if_done();
    }

    asio::awaitable<bool> to_session(std::size_t size) {
        for (std::size_t done = 0; done < size;) {
            const ssize_t n = ::write(session_fd, down_.data() + done, size - done);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
                c_.idle.moved();
            } else if (errno == EAGAIN) {
                Error ignored;
                co_await c_.session.async_wait(Wait::wait_write, into(ignored));
            } else if (errno != EINTR) {
                co_return false;
            }
        }
        co_return true;
    }

    asio::awaitable<bool> to_client(std::size_t size) {
        for (std::size_t done = 0; done < size;) {
            const int n = SSL_write(ssl_, up_.data() + done, static_cast<int>(size - done));
            if (n > 0) {
                done += static_cast<std::size_t>(n);
                c_.idle.moved();
                continue;
            }
            const Want want = c_.client.want(n);
            if (want == Want::nothing) co_return false;
            co_await c_.client.ready(want);
        }
        co_return true;
    }

    void end_if_done() {
        if (session_done_ && (client_done_ || session_exited_)) c_.end();
    }

    Connection& c_;
    SSL* ssl_;
    std::vector<char> down_ = std::vector<char>(buffer_size);  // client to session
    std::vector<char> up_ = std::vector<char>(buffer_size);    // session to client
    bool client_done_ = false;    // nothing more comes from the client
    bool session_done_ = false;   // nothing more comes from the session
    bool session_exited_ = false;
};

}  // namespace

void start_relay(Connection& c) {
    c.idle.moved();
    Relay::start(std::make_shared<Relay>(c));
}

}  // namespace tlsrelay
