// One line per event on stderr, for multilog: never a password. Every
// program writes the same form (README "Logs" lists every line):
//
//   PROGRAM: pid PID from IP: EVENT[ user "USER"]: OUTCOME[ (DETAIL)]
//
// PID is the connection's (the process tcpserver started, whatever forked
// or exec'd since), IP the client's (TCPREMOTEIP, else "unknown"). A
// program that serves no connection (apoppw) writes "PROGRAM: EVENT:
// OUTCOME[ (DETAIL)]". Every field is escaped, so nothing a client sends can
// start a line, and USER, in quotes, cannot end them early.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace smtpauth {

// Where the connection's pid travels down the chain: set by smtp_auth, the
// first program of a connection, for every program it forks or execs.
inline constexpr const char* connection_pid_variable = "SMTPAUTH_PID";

// Printable ASCII stays, except '\\' and '"'; everything else becomes \xHH.
// Bounded: at most `limit` input octets are shown, then "...".
std::string escape_for_log(std::string_view text, std::size_t limit = 128);

// Whose pid a line shows when SMTPAUTH_PID is not set.
enum class LogPid {
    own,      // this process's: started per connection, or exec'd by one that was
    caller,   // the parent's: a checker, forked per connection (qmail-popup, smtp_auth)
    none,     // no connection at all: the short form
};

// Each main, first thing. Until then: the name the program was run by, own pid.
void set_log_program(std::string_view name, LogPid pid = LogPid::own);

// For the program that starts a connection (smtp_auth): its pid becomes
// the connection's, in SMTPAUTH_PID, whatever the launcher put there.
void export_connection_pid();

// SMTPAUTH_PID when it holds a pid, else as set_log_program said.
long connection_pid();

// The fields of one line, before escaping; no pid: the short form.
struct LogLine {
    std::string_view program;
    std::optional<long> pid;
    std::string_view ip;
    std::string_view event;
    std::optional<std::string_view> user;
    std::string_view outcome;
    std::string_view detail;  // empty: no " (DETAIL)"
};

// The line, escaped and bounded (under PIPE_BUF, so one write(2) keeps it
// whole among the lines of other processes), with its "\n".
std::string format_log_line(const LogLine& line);

// Writes a line with this program's name, the connection's pid and the
// client's address, in a single write(2) to fd 2.
void log_event(std::string_view event, std::string_view outcome, std::string_view detail = {}) noexcept;
void log_user_event(std::string_view event, std::string_view user, std::string_view outcome,
                    std::string_view detail = {}) noexcept;

// For a step of the chain that cannot go on while the client waits for a
// reply: logs the event, answers 421 on fd 1, returns `exit_code`.
int refuse_session(std::string_view event, std::string_view outcome, std::string_view detail,
                   int exit_code = 111) noexcept;

}  // namespace smtpauth
