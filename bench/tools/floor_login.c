/* floor_login CHECKPROG CHAIN...: the AUTH floor's stand-in for smtp_auth.
 * The least an authenticated session needs from it: the greeting, an answer
 * to EHLO, AUTH PLAIN taken (the credentials are not even decoded), the
 * checker run in a child ("CHECKPROG true") and waited for, 235, and at the
 * first other command an exec of CHAIN with RELAYCLIENT set and, for the
 * relay, FLOOR_EHLO (the client's EHLO line) and FLOOR_PENDING (the command
 * read but not answered). No base64, no bounds beyond the buffer's: a bench
 * tool for a well-behaved client, not a server. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[4096];
static size_t have;

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        const ssize_t w = write(1, s, n);
        if (w <= 0) _exit(111);
        s += w;
        n -= (size_t)w;
    }
}

/* The next line, NUL-terminated in place (with its CRLF), or exit. */
static char *line(size_t *len) {
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl) {
            *len = (size_t)(nl - buf) + 1;
            return buf;
        }
        if (have == sizeof buf - 1) _exit(100);
        const ssize_t r = read(0, buf + have, sizeof buf - 1 - have);
        if (r <= 0) _exit(0);
        have += (size_t)r;
    }
}

static void consume(size_t len) {
    memmove(buf, buf + len, have - len);
    have -= len;
}

static int check(const char *prog) {
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char *argv[] = {(char *)prog, "true", 0};
        execvp(argv[0], argv);
        _exit(111);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {}
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 100;
    static char ehlo[1024];
    say("220 bench.example ESMTP\r\n");
    for (;;) {
        size_t len;
        char *l = line(&len);
        if (!strncasecmp(l, "EHLO ", 5) || !strncasecmp(l, "HELO ", 5)) {
            if (len >= sizeof ehlo) return 100;
            memcpy(ehlo, l, len);
            ehlo[len] = 0;
            consume(len);
            say(ehlo[0] == 'H' || ehlo[0] == 'h' ? "250 bench.example\r\n"
                                                 : "250-bench.example\r\n250 AUTH PLAIN\r\n");
        } else if (!strncasecmp(l, "AUTH PLAIN", 10)) {
            const int initial = len > 13;  /* "AUTH PLAIN x\r\n" */
            consume(len);
            if (!initial) {
                say("334 \r\n");
                line(&len);
                consume(len);
            }
            if (check(argv[1]) != 0) return 111;
            setenv("RELAYCLIENT", "", 1);
            say("235 ok\r\n");
        } else if (!strncasecmp(l, "QUIT", 4)) {
            say("221 bench.example\r\n");
            return 0;
        } else {
            buf[have] = 0;
            setenv("FLOOR_EHLO", ehlo, 1);
            setenv("FLOOR_PENDING", buf, 1);
            execvp(argv[2], argv + 2);
            return 111;
        }
    }
}
