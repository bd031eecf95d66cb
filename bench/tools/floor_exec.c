/* floor_exec PROG [ARG...]: execs PROG, nothing else. The floor's stand-in
 * for checkpassword_nosu: the cost of one more exec in the chain. */
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 100;
    execvp(argv[1], argv + 1);
    return 111;
}
