#include "log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace smtpauth {

namespace {

// The bounds of each field, in input octets: with every octet escaped
// (four each) a line stays under 4096, PIPE_BUF.
constexpr std::size_t program_limit = 32, ip_limit = 64, event_limit = 64, user_limit = 128,
                      outcome_limit = 64, detail_limit = 512;

std::string log_program_name = program_invocation_short_name;
LogPid log_pid = LogPid::own;

// In DETAIL, the last field, a quote ends nothing: it stays, so that
// "GREETING must end with a line "220 ..."" reads as written.
std::string escape(std::string_view text, std::size_t limit, bool quotes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() < limit ? text.size() : limit);
    std::size_t shown = 0;
    for (const char ch : text) {
        if (shown++ == limit) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '\\' && (c != '"' || !quotes)) {
            out += ch;
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

std::optional<long> pid_from(const char* text) {
    if (text == nullptr) return std::nullopt;
    const std::string_view s(text);
    long pid = 0;
    const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), pid);
    if (s.empty() || error != std::errc{} || end != s.data() + s.size() || pid <= 0) return std::nullopt;
    return pid;
}

void write_line(const std::string& line) noexcept {
    std::string_view rest = line;
    while (!rest.empty()) {
        const ssize_t n = ::write(2, rest.data(), rest.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return;  // logging must never stop the session
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

void log(std::string_view event, std::optional<std::string_view> user, std::string_view outcome,
         std::string_view detail) noexcept {
    try {
        LogLine line{log_program_name, std::nullopt, {}, event, user, outcome, detail};
        if (log_pid != LogPid::none) {
            line.pid = connection_pid();
            const char* ip = std::getenv("TCPREMOTEIP");
            line.ip = ip != nullptr && *ip != '\0' ? ip : "unknown";
        }
        write_line(format_log_line(line));
    } catch (...) {
    }
}

}  // namespace

std::string escape_for_log(std::string_view text, std::size_t limit) { return escape(text, limit, true); }

void set_log_program(std::string_view name, LogPid pid) {
    log_program_name = name;
    log_pid = pid;
}

void export_connection_pid() {
    ::setenv(connection_pid_variable, std::to_string(::getpid()).c_str(), 1);
}

long connection_pid() {
    if (const auto pid = pid_from(std::getenv(connection_pid_variable))) return *pid;
    return log_pid == LogPid::caller ? ::getppid() : ::getpid();
}

std::string format_log_line(const LogLine& l) {
    std::string out = escape_for_log(l.program, program_limit);
    out += ": ";
    if (l.pid) {
        out.append("pid ").append(std::to_string(*l.pid));
        out.append(" from ").append(escape_for_log(l.ip, ip_limit)).append(": ");
    }
    out += escape_for_log(l.event, event_limit);
    if (l.user) out.append(" user \"").append(escape_for_log(*l.user, user_limit)).append("\"");
    out.append(": ").append(escape_for_log(l.outcome, outcome_limit));
    if (!l.detail.empty()) out.append(" (").append(escape(l.detail, detail_limit, false)).append(")");
    out += '\n';
    return out;
}

void log_event(std::string_view event, std::string_view outcome, std::string_view detail) noexcept {
    log(event, std::nullopt, outcome, detail);
}

void log_user_event(std::string_view event, std::string_view user, std::string_view outcome,
                    std::string_view detail) noexcept {
    log(event, user, outcome, detail);
}

int refuse_session(std::string_view event, std::string_view outcome, std::string_view detail,
                   int exit_code) noexcept {
    log_event(event, outcome, detail);
    std::string_view rest = "421 4.3.0 service temporarily unavailable\r\n";
    while (!rest.empty()) {
        const ssize_t n = ::write(1, rest.data(), rest.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) break;
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return exit_code;
}

}  // namespace smtpauth
