#include "reply_reader.hpp"

namespace smtpproxy {


namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int code_of(std::string_view line) {
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}
}  // namespace

std::size_t ReplyReader::feed(std::string_view data) {
    std::size_t taken = 0;
    while (taken < data.size() && status_ == Status::partial) take(data[taken++]);
    return taken;
}

// Checks each byte as it comes, so garbage is seen at once rather than after
// a line end that may never arrive.
void ReplyReader::take(char c) {
    reply_ += c;
    const std::string_view line = std::string_view(reply_).substr(line_start_);
    const std::size_t at = line.size() - 1;  // c's place in the line
    if (line.size() > max_line) {
        status_ = Status::garbage;
    } else if (at < 3) {
        if (!is_digit(c)) status_ = Status::garbage;
    } else if (at == 3) {
        if (c != ' ' && c != '-' && c != '\r' && c != '\n') status_ = Status::garbage;
    } else if (at == 4 && line[3] == '\r' && c != '\n') {
        status_ = Status::garbage;  // only "DDD\r\n" may have CR as its 4th octet
    }
    if (status_ != Status::partial || c != '\n') return;

    // A complete line.
    const int code = code_of(line);
    if (lines_ == 0) {
        code_ = code;
    } else if (code != code_) {
        status_ = Status::garbage;
        return;
    }
    ++lines_;
    if (line[3] != '-') {
        status_ = Status::complete;
    } else if (lines_ == max_lines) {
        status_ = Status::garbage;  // one more line would be too many
    } else {
        line_start_ = reply_.size();
    }
}

}  // namespace smtpproxy
