#include <doctest/doctest.h>

#include <stdexcept>

#include "config.hpp"

using namespace smtp_auth;

TEST_CASE("SMTPAUTH follows the s/qmail meanings") {
    using M = Mechanism;
    auto p = parse_smtpauth("");
    CHECK(p.enabled);
    CHECK_FALSE(p.required);
    CHECK(p.mechanisms == std::vector<M>{M::login, M::plain});
    CHECK(parse_smtpauth("+cram").mechanisms == std::vector<M>{M::login, M::plain, M::cram_md5});
    CHECK(parse_smtpauth("cram").mechanisms == std::vector<M>{M::cram_md5});
    p = parse_smtpauth("!");
    CHECK(p.required);
    CHECK(p.mechanisms == std::vector<M>{M::login, M::plain});
    p = parse_smtpauth("!+cram");
    CHECK(p.required);
    CHECK(p.mechanisms.size() == 3);
    CHECK(parse_smtpauth("!cram").mechanisms == std::vector<M>{M::cram_md5});
    CHECK_FALSE(parse_smtpauth("-").enabled);
    for (const char* bad : {"+CRAM", "yes", "!-", "--", " ", "+cram ", "cram+"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_smtpauth(bad), std::invalid_argument);
    }
}

TEST_CASE("GREETING gets CRLF line ends and must be a 220 reply") {
    CHECK(parse_greeting("220 mx.example ESMTP") == "220 mx.example ESMTP\r\n");
    CHECK(parse_greeting("220 mx.example ESMTP \n") == "220 mx.example ESMTP \r\n");
    CHECK(parse_greeting("220 a\r\n") == "220 a\r\n");
    CHECK(parse_greeting("220-first\n220 second\n") == "220-first\r\n220 second\r\n");
    CHECK(parse_greeting("220") == "220\r\n");
    for (const char* bad : {"", "250 hi", "220-only continuation", "220 a\n220 b", "22 x", "220x",
                            "220 a\rb", "220 tab\there", "\n"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_greeting(bad), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_greeting("220 " + std::string(600, 'x')), std::invalid_argument);
}

TEST_CASE("EHLORESP lines all continue, so the AUTH line can close the reply") {
    CHECK(parse_ehloresp("250-mx\n250-PIPELINING\n250-8BITMIME\n") ==
          "250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n");
    CHECK(parse_ehloresp("250-mx\r\n250 8BITMIME") == "250-mx\r\n250-8BITMIME\r\n");
    CHECK(parse_ehloresp("250 mx") == "250-mx\r\n");
    for (const char* bad : {"", "250 mx\n250-x", "220-mx", "250-mx\n\n", "250-a\x01"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_ehloresp(bad), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_ehloresp(std::string_view("250-a\0b", 7)), std::invalid_argument);
}

TEST_CASE("the EHLO reply ends with the AUTH line") {
    Config c;
    c.ehlo_lines = "250-mx\r\n250-PIPELINING\r\n";
    CHECK(c.ehlo_reply(false, true) == "250-mx\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n");
    c.auth = parse_smtpauth("+cram");
    CHECK(c.ehlo_reply(false, true).ends_with("250 AUTH LOGIN PLAIN CRAM-MD5\r\n"));
    CHECK(c.ehlo_reply(true, true) ==
          "250-mx\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n");
    // Before TLS, when AUTH waits for it: STARTTLS closes the reply.
    CHECK(c.ehlo_reply(true, false) == "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    // Neither: the last configured line closes it.
    CHECK(c.ehlo_reply(false, false) == "250-mx\r\n250 PIPELINING\r\n");
    // Found by fuzzing: "250-" inside the text of the last line.
    c.ehlo_lines = "250-mx\r\n250-SEE 250-CODES\r\n";
    CHECK(c.ehlo_reply(false, false) == "250-mx\r\n250 SEE 250-CODES\r\n");
}

TEST_CASE("host names from the environment are sanitized") {
    CHECK(sanitize_host("mail.example.org") == "mail.example.org");
    CHECK(sanitize_host("evil\r\n250 x") == "evil250x");
    CHECK(sanitize_host("[::1]") == "[::1]");
    CHECK(sanitize_host(std::string(1000, 'a')).size() == 255);
}

TEST_CASE("a local address stands for the host name as an address literal") {
    CHECK(address_literal("192.0.2.1") == "[192.0.2.1]");
    CHECK(address_literal("::1") == "[IPv6:::1]");
    CHECK(address_literal("2001:db8::25") == "[IPv6:2001:db8::25]");
    CHECK(address_literal("::ffff:192.0.2.1") == "[IPv6:::ffff:192.0.2.1]");
    CHECK(address_literal("192.0.2.1\r\n250 x") == "[192.0.2.1250]");  // junk cannot break a line
    CHECK(address_literal("") == "");
    CHECK(address_literal("zz") == "");
}

TEST_CASE("numbers of seconds are bounded") {
    CHECK(parse_seconds("X", "0", std::chrono::seconds(60)).count() == 0);
    CHECK(parse_seconds("X", "60", std::chrono::seconds(60)).count() == 60);
    for (const char* bad : {"", "61", "-1", "1.5", "3s", " 3", "99999999999999999999"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_seconds("X", bad, std::chrono::seconds(60)), std::invalid_argument);
    }
}

TEST_CASE("LOGIN_TIMEOUT and LOGIN_COMMANDS: defaults, values, and 0 refused") {
    ::unsetenv("LOGIN_TIMEOUT");
    ::unsetenv("LOGIN_COMMANDS");
    Config c = config_from_environment();
    CHECK(c.login_timeout == std::chrono::seconds(300));
    CHECK(c.max_login_commands == 50);
    ::setenv("LOGIN_TIMEOUT", "7", 1);
    ::setenv("LOGIN_COMMANDS", "9", 1);
    c = config_from_environment();
    CHECK(c.login_timeout == std::chrono::seconds(7));
    CHECK(c.max_login_commands == 9);
    for (const char* name : {"LOGIN_TIMEOUT", "LOGIN_COMMANDS"}) {
        CAPTURE(name);
        for (const char* bad : {"0", "-1", "x", "", "100000"}) {
            ::setenv("LOGIN_TIMEOUT", "7", 1);
            ::setenv("LOGIN_COMMANDS", "9", 1);
            ::setenv(name, bad, 1);
            CHECK_THROWS_AS(config_from_environment(), std::invalid_argument);
        }
    }
    ::unsetenv("LOGIN_TIMEOUT");
    ::unsetenv("LOGIN_COMMANDS");
}
