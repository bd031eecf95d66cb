// One connection to Dovecot's auth-client service, on a UNIX socket or TCP,
// on the dialogue's io_context: every connect, read and write has a timer
// beside it, so a Dovecot that stops answering costs at most that long.
#pragma once
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "deadline.hpp"
#include "dovecot_protocol.hpp"

namespace smtp_auth {

// Whatever ends the connection: it is then of no more use.
struct DovecotError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class DovecotConnection {
public:
    // Connects, says VERSION and CPID and reads the server's handshake, all
    // within `timeout`. Throws DovecotError.
    static asio::awaitable<std::unique_ptr<DovecotConnection>> open(const DovecotAddress& address,
                                                                    std::chrono::milliseconds timeout);
    explicit DovecotConnection(const asio::any_io_executor& executor) : socket_(executor) {}
    ~DovecotConnection();
    DovecotConnection(const DovecotConnection&) = delete;
    DovecotConnection& operator=(const DovecotConnection&) = delete;

    const std::vector<DovecotMechanism>& mechanisms() const { return mechanisms_; }

    // Between requests Dovecot says nothing: a connection with something to
    // read then (its end of file, after a restart) is of no more use.
    bool idle_and_open();

    // Sends `line` and a LF. Throws DovecotError.
    asio::awaitable<void> send(std::string_view line, std::chrono::milliseconds timeout);
    // The next line's fields. Throws DovecotError (EOF, timeout, a line over
    // 16 KiB or one that does not split).
    asio::awaitable<std::vector<std::string>> receive(std::chrono::milliseconds timeout);

private:
    template <class Start>
    asio::awaitable<std::size_t> run(std::chrono::milliseconds timeout, const char* what, Start start);

    asio::generic::stream_protocol::socket socket_;
    DovecotLineReader lines_;
    std::vector<DovecotMechanism> mechanisms_;
};

}  // namespace smtp_auth
