#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "reply_reader.hpp"

using namespace smtpproxy;
using namespace std::string_literals;

namespace {

const std::vector<std::string> samples = {
    "220 mail.example.org ESMTP\r\n",
    "250-mail.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    "220-first\n220-second\n220 last\n",  // LF alone
    "250\r\n",
    "250\n",
    "250-\r\n250 \r\n",
    "421 4.3.0 closing\r\n",
    "554-no\r\n554\r\n",
    "250 8-bit \xff\x80 and a NUL \0 and a bare \r inside\r\n"s,
};

// Feeds `text` in the given chunks; returns how many octets the reader took.
std::size_t feed_chunks(ReplyReader& reader, std::string_view text,
                        const std::vector<std::size_t>& cuts) {
    std::size_t taken = 0;
    std::size_t from = 0;
    for (const std::size_t to : cuts) {
        taken += reader.feed(text.substr(from, to - from));
        from = to;
    }
    taken += reader.feed(text.substr(from));
    return taken;
}

}  // namespace

TEST_CASE("a reply is recognized however it is split, and only its octets are taken") {
    for (const auto& sample : samples) {
        const std::string with_more = sample + "MAIL FROM:<x@y>\r\n";
        for (std::size_t i = 0; i <= sample.size(); ++i) {
            for (std::size_t j = i; j <= with_more.size(); ++j) {
                ReplyReader reader;
                const std::size_t taken = feed_chunks(reader, with_more, {i, j});
                CAPTURE(sample);
                CAPTURE(i);
                CAPTURE(j);
                REQUIRE(reader.complete());
                CHECK(taken == sample.size());
                CHECK(reader.bytes() == sample);
                CHECK(reader.code() == std::stoi(sample.substr(0, 3)));
            }
        }
    }
}

TEST_CASE("one octet at a time") {
    for (const auto& sample : samples) {
        ReplyReader reader;
        for (std::size_t i = 0; i < sample.size(); ++i) {
            CHECK_FALSE(reader.complete());
            CHECK_FALSE(reader.garbage());
            CHECK(reader.code() == 0);
            CHECK(reader.feed(std::string_view(sample).substr(i, 1)) == 1);
        }
        CHECK(reader.complete());
        CHECK(reader.feed("more") == 0);
        CHECK(reader.bytes() == sample);
    }
}

TEST_CASE("only 2xx is positive") {
    const std::vector<std::pair<std::string, bool>> cases = {
        {"220 hi\r\n", true}, {"250 ok\r\n", true},  {"221 bye\r\n", true},
        {"354 go\r\n", false}, {"421 no\r\n", false}, {"554 no\r\n", false},
        {"199 odd\r\n", false},
    };
    for (const auto& [text, positive] : cases) {
        ReplyReader reader;
        reader.feed(text);
        REQUIRE(reader.complete());
        CHECK(reader.positive() == positive);
    }
    ReplyReader partial;
    partial.feed("250-more to come\r\n");
    CHECK_FALSE(partial.positive());
}

TEST_CASE("garbage is not a reply, and is seen as early as possible") {
    const std::vector<std::string> garbage = {
        "hello\r\n",       "22\r\n",           "2x0 ok\r\n",     "220ok\r\n",
        "220\rx\n",        "\r\n",             "\n",             " 220 hi\r\n",
        "220_hi\r\n",      "250-a\r\n251 b\r\n",  // codes differ
        "250-a\r\nhello\r\n", "250-a\r\n25\r\n",
    };
    for (const auto& text : garbage) {
        CAPTURE(text);
        ReplyReader reader;
        reader.feed(text);
        CHECK(reader.garbage());
        CHECK(reader.code() == 0);
        CHECK_FALSE(reader.positive());
        CHECK(reader.feed("220 ok\r\n") == 0);
    }
    ReplyReader early;
    CHECK(early.feed("h") == 1);
    CHECK(early.garbage());
    ReplyReader early_sep;
    early_sep.feed("220x");
    CHECK(early_sep.garbage());
}

TEST_CASE("lines are bounded in length") {
    const std::string longest = "250 " + std::string(ReplyReader::max_line - 6, 'x') + "\r\n";
    REQUIRE(longest.size() == ReplyReader::max_line);
    ReplyReader fits;
    CHECK(fits.feed(longest) == longest.size());
    CHECK(fits.complete());

    const std::string too_long = "250 " + std::string(ReplyReader::max_line - 5, 'x') + "\r\n";
    ReplyReader overlong;
    overlong.feed(too_long);
    CHECK(overlong.garbage());

    // Endless text without a line end is garbage once it passes the bound.
    ReplyReader endless;
    endless.feed("220 ");
    const std::string chunk(1000, 'y');
    for (int i = 0; i < 10 && !endless.garbage(); ++i) endless.feed(chunk);
    CHECK(endless.garbage());
}

TEST_CASE("replies are bounded in lines") {
    std::string most;
    for (std::size_t i = 1; i < ReplyReader::max_lines; ++i) most += "250-line\r\n";
    most += "250 last\r\n";
    ReplyReader fits;
    CHECK(fits.feed(most) == most.size());
    CHECK(fits.complete());

    std::string too_many;
    for (std::size_t i = 0; i < ReplyReader::max_lines; ++i) too_many += "250-line\r\n";
    ReplyReader overlong;
    overlong.feed(too_many);
    CHECK(overlong.garbage());
}
