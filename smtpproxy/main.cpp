// smtpproxy: runs PROG as the SMTP server behind smtp_auth.
//
// smtp_auth has greeted the client and answered its HELO/EHLO lines. We start
// PROG, hide its greeting, replay those lines to it and hide its replies,
// pass on the bytes the client sent that nobody answered, then relay both
// ways until both sides are done. See smtpproxy(8).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "descriptors.hpp"
#include "handoff.hpp"
#include "idle_timeout.hpp"
#include "log.hpp"
#include "secret.hpp"
#include "session.hpp"

using namespace smtpauth;
using namespace smtpproxy;

namespace {

int refuse(std::string_view event, std::string_view detail, int exit_code = 111) {
    return refuse_session(event, event == "config" ? "error" : "failed", detail, exit_code);
}

}  // namespace

int main(int argc, char* argv[]) {
    set_log_program("smtpproxy");
    open_standard_descriptors();
    if (argc < 2) return refuse("config", "usage: smtpproxy prog [arg...]", 100);
    // A run file without setuidgid (or authuidgid) in front of us would
    // have the backend parse mail as root.
    if (::getuid() == 0 || ::geteuid() == 0)
        return refuse("config", "refusing to run as root: put setuidgid or authuidgid in front of smtpproxy");
    std::signal(SIGPIPE, SIG_IGN);   // a write to a gone peer is an error, not death
    std::signal(SIGCHLD, SIG_DFL);   // not ignored, or PROG's exit status is lost

    const auto idle_timeout = parse_idle_timeout(std::getenv(idle_timeout_variable));
    if (!idle_timeout)
        return refuse("config", std::string(idle_timeout_variable) +
                      " must be a whole number of seconds from 1 to " +
                      std::to_string(max_idle_timeout.count()));

    std::optional<Handoff> handoff;
    if (char* value = std::getenv(handoff_variable)) {
        handoff = decode_handoff(value);
        // What the client pipelined is in there, an AUTH line it sent after
        // its login included: overwritten where it lies (what
        // /proc/PID/environ shows), then gone from PROG's environment.
        wipe(value, std::strlen(value));
        ::unsetenv(handoff_variable);
        if (!handoff) return refuse("handoff", std::string("malformed ") + handoff_variable);
    }

    std::string error;
    const auto backend = start_backend(argv + 1, error);
    if (!backend) return refuse("backend", "unable to run " + std::string(argv[1]) + ": " + error);

    return run_session(0, 1, *backend, handoff, *idle_timeout);
}
