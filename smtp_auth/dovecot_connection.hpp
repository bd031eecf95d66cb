// One connection to Dovecot's auth-client service, on a UNIX socket or TCP,
// written with Boost.Asio: every connect, read and write has a timer beside
// it, so a Dovecot that stops answering costs at most that long.
#pragma once
#include <utility>  // before Asio: Boost 1.74 needs it

#include <boost/asio.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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
    DovecotConnection(const DovecotAddress& address, std::chrono::milliseconds timeout);
    ~DovecotConnection();
    DovecotConnection(const DovecotConnection&) = delete;
    DovecotConnection& operator=(const DovecotConnection&) = delete;

    const std::vector<DovecotMechanism>& mechanisms() const { return mechanisms_; }

    // Between requests Dovecot says nothing: a connection with something to
    // read then (its end of file, after a restart) is of no more use.
    bool idle_and_open();

    // Sends `line` and a LF. Throws DovecotError.
    void send(std::string_view line, std::chrono::milliseconds timeout);
    // The next line's fields. Throws DovecotError (EOF, timeout, a line over
    // 16 KiB or one that does not split).
    std::vector<std::string> receive(std::chrono::milliseconds timeout);

private:
    template <class Operation>
    void run(std::chrono::milliseconds timeout, const char* what, Operation start);

    boost::asio::io_context io_;
    boost::asio::generic::stream_protocol::socket socket_{io_};
    DovecotLineReader lines_;
    std::vector<DovecotMechanism> mechanisms_;
};

}  // namespace smtp_auth
