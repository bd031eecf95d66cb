// Descriptors that must not outlive an exec.
#pragma once

namespace smtpauth {

// Marks every descriptor from 3 up close-on-exec: whatever a program
// inherited or opened must not reach the next one. Async-signal-safe, so
// that it may run between fork and exec.
void close_on_exec_from_3() noexcept;

}  // namespace smtpauth
