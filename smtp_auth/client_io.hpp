// The client side of smtp_auth: reads in blocks, each with a timer beside
// it, split into lines; replies written whole, each within its time.
#pragma once
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "deadline.hpp"
#include "secret.hpp"

namespace smtp_auth {

// Where client bytes come from and go to: the client's descriptors, or a
// test's script.
class ClientChannel {
public:
    virtual ~ClientChannel() = default;
    // > 0 bytes read, 0 end of file, -1 error, -2 timeout.
    virtual asio::awaitable<long> read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) = 0;
    // All of `data` within `timeout` in all, or false: a client that does
    // not read cannot hold the writer longer.
    virtual asio::awaitable<bool> write_all(std::string_view data, std::chrono::milliseconds timeout) = 0;
    // Around STARTTLS, whose fork leaves fds 0 and 1 the plaintext
    // socketpair in the session: the descriptors leave the io_context,
    // blocking as they came, and come back after.
    virtual void before_fork() {}
    virtual void after_fork() {}
};

// The client's descriptors (fds 0 and 1), owned by `io` while the dialogue
// runs. Asio sets O_NONBLOCK on what it owns, and the flag survives exec:
// release() (and the destructor) put the flags back as they came, for the
// checker, the TLS relay and the chain.
class FdChannel final : public ClientChannel {
public:
    FdChannel(asio::io_context& io, int read_fd, int write_fd);
    ~FdChannel() override { release(); }
    FdChannel(const FdChannel&) = delete;
    FdChannel& operator=(const FdChannel&) = delete;

    asio::awaitable<long> read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) override;
    asio::awaitable<bool> write_all(std::string_view data, std::chrono::milliseconds timeout) override;
    void before_fork() override;
    void after_fork() override;
    void release();

private:
    void acquire();
    asio::posix::stream_descriptor& writer() { return write_fd_ == read_fd_ ? *in_ : *out_; }

    asio::io_context& io_;
    int read_fd_;
    int write_fd_;
    int read_flags_ = -1, write_flags_ = -1;  // as they came
    std::optional<asio::posix::stream_descriptor> in_, out_;
};

// Splits the client's bytes into lines ending in LF, keeping the raw bytes
// (CRLF or bare LF, NULs and all), so that what is not answered here can be
// handed to the backend exactly as it came.
class LineReader {
public:
    enum class Status { line, too_long, eof, timeout, error };

    struct Result {
        Status status;
        std::string_view line;  // raw, including its LF; valid until the next call
    };

    static constexpr std::size_t block_size = 16384;

    // The buffer is reserved whole up front (a kept partial line plus a
    // block), so that it never moves and leaves no copy of a password behind.
    LineReader(ClientChannel& channel, std::size_t max_line, std::chrono::milliseconds timeout)
        : channel_(channel), max_line_(max_line), timeout_(timeout) {
        buffer_.reserve(max_line + block_size);
    }
    ~LineReader() { smtpauth::wipe(buffer_); }

    // No read waits past `deadline`: a read that would is a timeout.
    void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

    // The next line of at most max_line octets. A longer line is reported
    // once as too_long and skipped up to and including its LF.
    asio::awaitable<Result> read_line();

    // The last line returned and every byte read after it: what the backend
    // has to see when the session is handed over.
    std::string_view from_last_line() const;

    // Every byte read after the last line returned.
    std::string_view unread() const;

    // Forgets (and overwrites) every byte read but not yet returned: what a
    // client pipelined behind STARTTLS must never count as encrypted.
    std::size_t discard_unread();

    // Overwrites the bytes already consumed (an AUTH exchange's lines).
    void wipe_consumed();

    // Wipes the consumed bytes when it goes out of scope, however the scope
    // is left: for the lines of an AUTH exchange.
    class ConsumedWiper {
    public:
        explicit ConsumedWiper(LineReader& reader) : reader_(reader) {}
        ~ConsumedWiper() { reader_.wipe_consumed(); }
        ConsumedWiper(const ConsumedWiper&) = delete;
        ConsumedWiper& operator=(const ConsumedWiper&) = delete;

    private:
        LineReader& reader_;
    };

private:
    asio::awaitable<bool> fill();  // false on EOF, timeout or error (status_ says which)

    ClientChannel& channel_;
    std::size_t max_line_;
    std::chrono::milliseconds timeout_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    std::string buffer_;
    std::size_t start_ = 0;      // first byte not yet returned
    std::size_t last_line_ = 0;  // start of the line returned last
    bool skipping_ = false;      // inside an over-long line
    Status status_ = Status::line;
};

}  // namespace smtp_auth
