// Ending a TCP connection without a reset.
#pragma once
#include <chrono>

namespace smtpauth {

// A socket closed while bytes from the peer wait unread in it is reset
// (RST), and a reset can cost the client the last reply it has not read
// yet (a 421, a 221). So when the client has sent more than anyone will
// read: send it EOF on `out`, then read and drop what it sends on `in`
// until it closes its end, for at most `grace` and a bounded number of
// bytes. Nothing to do when nothing is unread or `out` is not a socket.
// The descriptors stay open: the caller closes them.
void drain_before_close(int in, int out, std::chrono::milliseconds grace =
                                             std::chrono::seconds(2)) noexcept;

}  // namespace smtpauth
