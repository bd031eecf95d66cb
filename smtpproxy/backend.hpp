// The backend: PROG, started with its stdin and stdout on two pipes to us.
//
// Pipes rather than a socketpair: splice(2) moves bytes between the
// client's socket and a pipe without copying them (see Pump).
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

namespace smtpproxy {

struct Backend {
    pid_t pid = -1;
    int input = -1;   // we write here, PROG reads it as fd 0
    int output = -1;  // PROG writes its fd 1 here, we read it
};

// Runs argv[0] (found through PATH) with arguments argv, a null-terminated
// array. PROG gets the pipes' ends in blocking mode (they are new, and
// what the session makes non-blocking are its own ends); it keeps our fd 2 and gets default SIGPIPE handling; every other
// descriptor of ours is closed on exec. PROG leads a process group of its
// own, so stopping it stops what it started. Our fds 0, 1 and 2 must be open.
// Returns nothing, with a reason in `error`, when PROG cannot be run.
std::optional<Backend> start_backend(char* const argv[], std::string& error);

// Sends PROG's process group SIGTERM, allows a short grace period, then
// SIGKILL; reaps PROG and returns its wait status.
int stop_backend(pid_t pid);

}  // namespace smtpproxy
