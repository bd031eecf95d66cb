// smtpproxy's ReplyReader on backend bytes cut into arbitrary chunks (the
// cut sizes come from the end of the input): it never takes more than it is
// given, and the replies it finds, their codes and where garbage starts do
// not depend on the cuts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "reply_reader.hpp"

using namespace smtpproxy;

namespace {

struct Outcome {
    std::vector<std::string> replies;  // complete replies, as taken
    std::vector<int> codes;
    bool garbage = false;
    std::size_t taken = 0;  // octets taken in all

    bool operator==(const Outcome&) const = default;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// What a complete reply must look like.
void check_reply(std::string_view reply, int code) {
    FUZZ_CHECK(code >= 0 && code <= 999);
    FUZZ_CHECK(reply.ends_with('\n'));
    FUZZ_CHECK(reply.size() <= ReplyReader::max_line * ReplyReader::max_lines);
    std::size_t lines = 0;
    while (!reply.empty()) {
        const auto lf = reply.find('\n');
        const auto line = reply.substr(0, lf + 1);
        reply.remove_prefix(lf + 1);
        ++lines;
        FUZZ_CHECK(line.size() >= 4 && line.size() <= ReplyReader::max_line);
        FUZZ_CHECK(is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]));
        FUZZ_CHECK((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') == code);
        const bool last = reply.empty();
        if (last) {
            FUZZ_CHECK(line[3] == ' ' || line.substr(3) == "\n" || line.substr(3) == "\r\n");
        } else {
            FUZZ_CHECK(line[3] == '-');
        }
    }
    FUZZ_CHECK(lines <= ReplyReader::max_lines);
}

// Feeds `chunk` to the reader, collecting replies; false once garbage.
bool feed(ReplyReader& reader, std::string_view chunk, Outcome& out) {
    while (!chunk.empty()) {
        const std::size_t n = reader.feed(chunk);
        FUZZ_CHECK(n <= chunk.size());
        out.taken += n;
        chunk.remove_prefix(n);
        if (reader.garbage()) {
            out.garbage = true;
            FUZZ_CHECK(reader.code() == 0 && !reader.positive());
            FUZZ_CHECK(reader.feed("250 more\r\n") == 0);
            return false;
        }
        if (!reader.complete()) {
            FUZZ_CHECK(chunk.empty());  // a partial reply takes all it is given
            FUZZ_CHECK(reader.code() == 0);
            return true;
        }
        check_reply(reader.bytes(), reader.code());
        FUZZ_CHECK(reader.positive() == (reader.code() / 100 == 2));
        FUZZ_CHECK(reader.feed("250 more\r\n") == 0);  // nothing once complete
        out.replies.emplace_back(reader.bytes());
        out.codes.push_back(reader.code());
        reader = ReplyReader{};  // the next reply
        FUZZ_CHECK(reader.bytes().empty() && !reader.complete() && !reader.garbage());
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider provider(data, size);
    // Cut sizes from the end, replies from the front: a seed reads as text.
    std::vector<std::size_t> cuts;
    const auto count = provider.ConsumeIntegralInRange<std::size_t>(0, 16);
    for (std::size_t i = 0; i < count && provider.remaining_bytes() > 0; ++i)
        cuts.push_back(provider.ConsumeIntegralInRange<std::size_t>(0, 300));
    const std::string text = provider.ConsumeRemainingBytesAsString();

    Outcome whole;
    ReplyReader at_once;
    feed(at_once, text, whole);
    FUZZ_CHECK(whole.taken <= text.size());

    Outcome chunked;
    ReplyReader reader;
    std::string_view rest = text;
    bool going = true;
    // The cut sizes repeat; a zero passes an empty chunk.
    for (std::size_t i = 0; going && !rest.empty(); ++i) {
        const std::size_t n = cuts.empty() ? rest.size() : std::min(cuts[i % cuts.size()], rest.size());
        if (n == 0 && i > 4 * cuts.size()) break;  // only empty chunks: they cannot finish
        going = feed(reader, rest.substr(0, n), chunked);
        rest.remove_prefix(n);
    }
    if (!rest.empty() && going) going = feed(reader, rest, chunked);

    FUZZ_CHECK(chunked == whole);
    return 0;
}
