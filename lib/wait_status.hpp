// A child's wait status as the exit code of the program that waited for it.
#pragma once

namespace smtpauth {

// The child's exit code, or 128 plus the number of the signal that killed
// it (as sh reports it); 111 for anything else.
int exit_code_of(int wait_status) noexcept;

}  // namespace smtpauth
