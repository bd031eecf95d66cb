// The client side of smtp_auth: blocking reads in blocks, with an idle
// timeout, split into lines; small replies written whole.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "secret.hpp"

namespace smtp_auth {

// Where client bytes come from and go to. Plain file descriptors today; a
// TLS channel can stand in its place without touching the dialogue.
class ClientChannel {
public:
    virtual ~ClientChannel() = default;
    // > 0 bytes read, 0 end of file, -1 error, -2 timeout.
    virtual long read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) = 0;
    // All of `data` within `timeout` in all, or false: a client that does
    // not read cannot hold the writer longer.
    virtual bool write_all(std::string_view data, std::chrono::milliseconds timeout) = 0;
};

class FdChannel final : public ClientChannel {
public:
    FdChannel(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
    long read_some(char* data, std::size_t size, std::chrono::milliseconds timeout) override;
    bool write_all(std::string_view data, std::chrono::milliseconds timeout) override;

private:
    int read_fd_;
    int write_fd_;
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
    Result read_line();

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
    bool fill();  // false on EOF, timeout or error (status_ says which)

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
