/* mkhash PASSWORD: prints PASSWORD hashed with crypt(3)'s default method
 * (what this system's passwd(1) would store: yescrypt on Debian 12). */
#include <crypt.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 100;
    const char *salt = crypt_gensalt(NULL, 0, NULL, 0);
    const char *hash = salt ? crypt(argv[1], salt) : NULL;
    if (!hash || hash[0] == '*') return 111;
    puts(hash);
    return 0;
}
