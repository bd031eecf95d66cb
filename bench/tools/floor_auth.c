/* floor_auth CHECKPROG CHAIN...: the floor's stand-in for smtp_auth. It
 * speaks no SMTP; it only does what the design makes every authenticated
 * session pay for in processes: run the checker ("CHECKPROG true") in a
 * child and wait for it, then exec CHAIN. */
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 100;
    const pid_t pid = fork();
    if (pid < 0) return 111;
    if (pid == 0) {
        char *check[] = {argv[1], "true", 0};
        execvp(check[0], check);
        _exit(111);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 111;
    execvp(argv[2], argv + 2);
    return 111;
}
