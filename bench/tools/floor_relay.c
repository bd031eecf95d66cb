/* floor_relay PROG [ARG...]: the floor's stand-in for smtpproxy. Starts
 * PROG on two pipes and copies bytes both ways with poll(2), read(2) and
 * write(2) until both directions are done: a transparent relay with no
 * SMTP in it, the least a relay in smtpproxy's place has to cost.
 * After floor_login (FLOOR_EHLO set) it first does the least of smtpproxy's
 * replay: hides the backend's greeting, sends it the client's EHLO, hides
 * that reply and sends on the command floor_login read (FLOOR_PENDING). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char up[65536], down[65536];

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads the backend's reply up to its last line ("NNN text"), discards it. */
static int hide_reply(int fd) {
    size_t have = 0, start = 0;
    for (;;) {
        const ssize_t r = read(fd, up + have, sizeof up - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        for (size_t i = start; i < have; ++i) {
            if (up[i] != '\n') continue;
            if (i - start >= 3 && up[start + 3] != '-') return i + 1 == have ? 0 : -1;
            start = i + 1;
        }
        if (have == sizeof up) return -1;
    }
}

static int replay(int to, int from, const char *ehlo, const char *pending) {
    if (hide_reply(from) != 0) return -1;
    if (write_all(to, ehlo, strlen(ehlo)) != 0 || hide_reply(from) != 0) return -1;
    return write_all(to, pending, strlen(pending));
}

int main(int argc, char **argv) {
    if (argc < 2) return 100;
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return 111;
    const pid_t pid = fork();
    if (pid < 0) return 111;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        execvp(argv[1], argv + 1);
        _exit(111);
    }
    close(in[0]);
    close(out[1]);
    signal(SIGPIPE, SIG_IGN);
    const char *ehlo = getenv("FLOOR_EHLO"), *pending = getenv("FLOOR_PENDING");
    if (ehlo && pending && replay(in[1], out[0], ehlo, pending) != 0) return 111;
    int client_open = 1, backend_open = 1;
    while (client_open || backend_open) {
        struct pollfd p[2] = {{client_open ? 0 : -1, POLLIN, 0}, {backend_open ? out[0] : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) {
            const ssize_t n = read(0, down, sizeof down);
            if (n <= 0 || write_all(in[1], down, (size_t)n) != 0) {
                client_open = 0;
                close(in[1]);
            }
        }
        if (p[1].revents) {
            const ssize_t n = read(out[0], up, sizeof up);
            if (n <= 0 || write_all(1, up, (size_t)n) != 0) {
                backend_open = 0;
                shutdown(1, SHUT_WR);
                close(out[0]);
                /* the backend is done: so is the session */
                client_open = 0;
                close(in[1]);
            }
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 111;
}
