// Descriptors: what must not outlive an exec, non-blocking mode, waiting.
#pragma once
#include <sys/types.h>

#include <chrono>

namespace smtpauth {

// Marks every descriptor from 3 up close-on-exec: whatever a program
// inherited or opened must not reach the next one. Async-signal-safe, so
// that it may run between fork and exec.
void close_on_exec_from_3() noexcept;

// Opens /dev/null on whichever of 0, 1 and 2 is closed: a descriptor the
// program opens later (a pipe to a child) must not land there.
void open_standard_descriptors() noexcept;

void set_nonblocking(int fd) noexcept;

// Waits for `events` on `fd` until `deadline`: false on timeout or error.
bool wait_until(int fd, short events, std::chrono::steady_clock::time_point deadline) noexcept;

// A pidfd for the child `pid` (pidfd_open(2)): close-on-exec, readable once
// the child has exited. -1 where the kernel has none (before 5.3).
int open_pidfd(pid_t pid) noexcept;

}  // namespace smtpauth
