#include "config.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace smtp_auth {


namespace {

std::string getenv_or(const char* name, std::string_view fallback) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string(fallback);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Splits a reply text into lines at LF, dropping a CR before each LF.
// Lines may not hold CR, NUL or other control characters.
std::vector<std::string> split_reply_lines(std::string_view name, std::string_view value) {
    if (value.empty()) throw std::invalid_argument(std::string(name) + " is empty");
    std::vector<std::string> lines;
    while (!value.empty()) {
        const auto lf = value.find('\n');
        std::string_view line = value.substr(0, lf);
        value = lf == std::string_view::npos ? std::string_view{} : value.substr(lf + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        for (const char ch : line) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x20 || c == 0x7f)
                throw std::invalid_argument(std::string(name) + " holds a control character");
        }
        if (line.size() + 2 > 512) throw std::invalid_argument(std::string(name) + " has a line over 512 octets");
        lines.emplace_back(line);
        if (lines.size() > 64) throw std::invalid_argument(std::string(name) + " has too many lines");
    }
    return lines;
}

// "CODE" + separator: does `line` start with the three digits of `code`
// followed by `sep` (or end right after the code when sep is ' ')?
bool has_code(std::string_view line, std::string_view code, char sep) {
    if (!line.starts_with(code)) return false;
    if (line.size() == 3) return sep == ' ';
    return line[3] == sep;
}

}  // namespace

std::string_view mechanism_name(Mechanism m) {
    switch (m) {
        case Mechanism::login: return "LOGIN";
        case Mechanism::plain: return "PLAIN";
        case Mechanism::cram_md5: return "CRAM-MD5";
    }
    return "?";
}

AuthPolicy parse_smtpauth(std::string_view value) {
    AuthPolicy p;
    if (value == "-") {
        p.enabled = false;
        p.mechanisms.clear();
        return p;
    }
    if (value.starts_with('!')) {
        p.required = true;
        value.remove_prefix(1);
    }
    if (value.empty()) return p;
    if (value == "+cram") {
        p.mechanisms.push_back(Mechanism::cram_md5);
        return p;
    }
    if (value == "cram") {
        p.mechanisms = {Mechanism::cram_md5};
        return p;
    }
    throw std::invalid_argument("SMTPAUTH must be empty, \"+cram\", \"cram\" (each optionally after \"!\"), or \"-\"");
}

std::string sanitize_host(std::string_view host) {
    std::string out;
    for (const char c : host.substr(0, 255)) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
            c == '-' || c == '_' || c == ':' || c == '[' || c == ']')
            out += c;
    }
    return out;
}

std::string address_literal(std::string_view ip) {
    std::string out;
    for (const char c : ip.substr(0, 64))
        if (is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':') out += c;
    if (out.empty()) return out;
    return (out.find(':') == std::string::npos ? "[" : "[IPv6:") + out + "]";
}

std::string parse_greeting(std::string_view value) {
    const auto lines = split_reply_lines("GREETING", value);
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const bool last = i + 1 == lines.size();
        if (!has_code(lines[i], "220", last ? ' ' : '-'))
            throw std::invalid_argument(last ? "GREETING must end with a line \"220 ...\""
                                             : "GREETING lines before the last must be \"220-...\"");
        out += lines[i];
        out += "\r\n";
    }
    return out;
}

std::string parse_ehloresp(std::string_view value) {
    auto lines = split_reply_lines("EHLORESP", value);
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto& line = lines[i];
        const bool last = i + 1 == lines.size();
        if (last && has_code(line, "250", ' ')) {
            // The AUTH line comes after it, so this one continues.
            if (line.size() == 3) line += ' ';
            line[3] = '-';
        }
        if (!has_code(line, "250", '-'))
            throw std::invalid_argument("EHLORESP lines must be \"250-...\"");
        out += line;
        out += "\r\n";
    }
    return out;
}

std::chrono::seconds parse_seconds(std::string_view name, std::string_view value,
                                   std::chrono::seconds max) {
    long long n = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, n);
    if (value.empty() || ec != std::errc{} || ptr != end || n < 0 || n > max.count())
        throw std::invalid_argument(std::string(name) + " must be a whole number from 0 to " +
                                    std::to_string(max.count()));
    return std::chrono::seconds(n);
}

std::string Config::ehlo_reply(bool offer_starttls, bool offer_auth) const {
    std::vector<std::string> names;
    if (offer_auth)
        for (const auto m : auth.mechanisms) names.emplace_back(mechanism_name(m));
    return ehlo_reply(offer_starttls, names);
}

std::string Config::ehlo_reply(bool offer_starttls, const std::vector<std::string>& mechanisms) const {
    std::string reply = ehlo_lines;
    if (offer_starttls) reply += "250-STARTTLS\r\n";
    if (!mechanisms.empty()) {
        reply += "250-AUTH";
        // A reply line holds at most 512 octets (RFC 5321 4.5.3.1.5).
        std::size_t length = 8;
        for (const auto& m : mechanisms) {
            if (length + 1 + m.size() + 2 > 512) break;
            length += 1 + m.size();
            reply += ' ';
            reply += m;
        }
        reply += "\r\n";
    }
    // Every line continues but the last (REFERENCE 7.08). The last line
    // starts after the CRLF before the final one.
    const auto before_last = reply.rfind("\r\n", reply.size() - 3);
    reply[(before_last == std::string::npos ? 0 : before_last + 2) + 3] = ' ';
    return reply;
}

Config config_from_environment() {
    Config c;
    c.host = sanitize_host(getenv_or("TCPLOCALHOST", ""));
    // "tcpserver -l 0" is the usual way to skip the DNS lookup: no name.
    if (c.host.empty() || c.host == "0") c.host = address_literal(getenv_or("TCPLOCALIP", ""));
    if (c.host.empty()) c.host = "unknown";
    c.remote_ip = sanitize_host(getenv_or("TCPREMOTEIP", "unknown"));

    c.auth = parse_smtpauth(getenv_or("SMTPAUTH", ""));
    const char* greeting = std::getenv("GREETING");
    c.greeting = greeting ? parse_greeting(greeting) : "220 " + c.host + " ESMTP\r\n";
    const char* ehlo = std::getenv("EHLORESP");
    c.ehlo_lines = ehlo ? parse_ehloresp(ehlo) : "250-" + c.host + "\r\n250-PIPELINING\r\n250-8BITMIME\r\n";

    using std::chrono::seconds;
    if (const char* v = std::getenv("AUTH_DELAY")) c.fail_delay = parse_seconds("AUTH_DELAY", v, seconds(60));
    if (const char* v = std::getenv("AUTH_TRIES")) {
        const auto n = parse_seconds("AUTH_TRIES", v, seconds(100)).count();
        if (n == 0) throw std::invalid_argument("AUTH_TRIES must be at least 1");
        c.max_failures = static_cast<unsigned>(n);
    }
    if (const char* v = std::getenv("AUTH_TIMEOUT")) {
        c.checker_timeout = parse_seconds("AUTH_TIMEOUT", v, seconds(3600));
        if (c.checker_timeout.count() == 0) throw std::invalid_argument("AUTH_TIMEOUT must be at least 1");
    }
    if (const char* v = std::getenv("SMTP_TIMEOUT")) {
        c.idle_timeout = parse_seconds("SMTP_TIMEOUT", v, seconds(86400));
        if (c.idle_timeout.count() == 0) throw std::invalid_argument("SMTP_TIMEOUT must be at least 1");
    }
    if (const char* v = std::getenv("LOGIN_TIMEOUT")) {
        c.login_timeout = parse_seconds("LOGIN_TIMEOUT", v, seconds(86400));
        if (c.login_timeout.count() == 0) throw std::invalid_argument("LOGIN_TIMEOUT must be at least 1");
    }
    if (const char* v = std::getenv("LOGIN_COMMANDS")) {
        const auto n = parse_seconds("LOGIN_COMMANDS", v, seconds(10000)).count();
        if (n == 0) throw std::invalid_argument("LOGIN_COMMANDS must be at least 1");
        c.max_login_commands = static_cast<unsigned>(n);
    }
    c.tls = tls_config_from_environment();
    return c;
}

}  // namespace smtp_auth
