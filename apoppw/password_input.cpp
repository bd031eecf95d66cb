#include "password_input.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <termios.h>
#include <unistd.h>

namespace apoppw {

namespace {

// The terminal's settings while echo is off, for the signal handler.
int tty_fd = -1;
struct termios saved_tty {};

extern "C" void restore_and_die(int signal_number) {
    if (tty_fd >= 0) ::tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
    if (::write(2, "\n", 1) < 0) {}  // nothing to do about it in a signal handler
    ::_exit(128 + signal_number);
}

class NoEcho {
public:
    explicit NoEcho(int fd) {
        if (::tcgetattr(fd, &saved_tty) != 0) return;
        struct sigaction action {};
        action.sa_handler = restore_and_die;
        sigemptyset(&action.sa_mask);
        for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(s, &action, nullptr);
        tty_fd = fd;
        struct termios quiet = saved_tty;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    ~NoEcho() {
        if (tty_fd >= 0) ::tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
        tty_fd = -1;
    }
    NoEcho(const NoEcho&) = delete;
    NoEcho& operator=(const NoEcho&) = delete;
};

void say(std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(2, text.data(), text.size());
        if (n <= 0) return;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

// One line, byte by byte so that nothing past it is consumed. False with
// `why` on a read error, end of input before any byte, or an overlong line.
bool read_line(int fd, smtpauth::Secret& line, std::string& why) {
    line.clear();
    line.str().reserve(password_limit + 2);
    for (;;) {
        char c = 0;
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            why = std::string("unable to read the password: ") + std::strerror(errno);
            return false;
        }
        if (n == 0) {
            if (line.empty()) {
                why = "no password given (end of input)";
                return false;
            }
            break;
        }
        if (c == '\n') break;
        if (line.size() > password_limit) {
            why = "the password is longer than " + std::to_string(password_limit) + " bytes";
            smtpauth::wipe(&c, 1);
            return false;
        }
        line.str().push_back(c);
        smtpauth::wipe(&c, 1);
    }
    if (!line.empty() && line.str().back() == '\r') line.str().pop_back();
    return true;
}

}  // namespace

std::string password_problem(std::string_view password) {
    if (password.empty()) return "the password is empty";
    if (password.size() > password_limit)
        return "the password is longer than " + std::to_string(password_limit) + " bytes";
    for (const char c : password)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return "the password holds a control character";
    if (password.front() == '!' || password.front() == '*')
        return "a password starting with '!' or '*' would lock the address";
    return {};
}

bool read_password_twice(int fd, smtpauth::Secret& password, std::string& why) {
    const bool terminal = ::isatty(fd) == 1;
    smtpauth::Secret again;
    {
        std::optional<NoEcho> quiet;
        if (terminal) quiet.emplace(fd);
        if (terminal) say("New mail password: ");
        if (!read_line(fd, password, why)) return false;
        if (terminal) say("Again: ");
        if (!read_line(fd, again, why)) return false;
    }
    if (!smtpauth::equal_constant_time(password.view(), again.view())) {
        why = "the two passwords differ; nothing changed";
        return false;
    }
    why = password_problem(password.view());
    return why.empty();
}

}  // namespace apoppw
