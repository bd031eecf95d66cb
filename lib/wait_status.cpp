#include "wait_status.hpp"

#include <sys/wait.h>

namespace smtpauth {

int exit_code_of(int wait_status) noexcept {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 111;
}

}  // namespace smtpauth
