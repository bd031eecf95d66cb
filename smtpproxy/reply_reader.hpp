// Recognizes one complete SMTP reply in bytes that arrive in arbitrary chunks.
//
// A reply is one or more lines with the same three-digit code: every line but
// the last is "DDD-text", the last is "DDD text" or a bare "DDD". A line ends
// in LF, usually after CR. Anything else is not a reply ("garbage"), and so is
// a reply too long to be an honest one: the reader is bounded.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace smtpproxy {

class ReplyReader {
public:
    static constexpr std::size_t max_line = 4096;   // octets, with the line end
    static constexpr std::size_t max_lines = 1000;  // lines in one reply

    // Takes bytes from the front of `data` up to the end of the reply (or to
    // the byte that shows it is garbage) and returns how many it took; the
    // rest belongs to whatever follows the reply. Takes nothing once the
    // reply is complete or garbage.
    std::size_t feed(std::string_view data);

    bool complete() const noexcept { return status_ == Status::complete; }
    bool garbage() const noexcept { return status_ == Status::garbage; }
    // The code of a complete reply, 0 before.
    int code() const noexcept { return complete() ? code_ : 0; }
    // A complete 2xx reply.
    bool positive() const noexcept { return complete() && code_ / 100 == 2; }
    // The bytes taken so far, exactly as received.
    std::string_view bytes() const noexcept { return reply_; }

private:
    enum class Status { partial, complete, garbage };

    void take(char c);

    Status status_ = Status::partial;
    std::string reply_;
    std::size_t line_start_ = 0;  // where the current line starts in reply_
    std::size_t lines_ = 0;       // complete lines so far
    int code_ = 0;                // of the first line
};

}  // namespace smtpproxy
