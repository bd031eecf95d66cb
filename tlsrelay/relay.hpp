// The TLS relay: ciphertext on the client's connection, plaintext on the
// session's socket. One coroutine per direction, each a buffer filled from
// one side and drained into the other, waiting only for what stops it.
#pragma once

namespace tlsrelay {

struct Connection;

// Starts both directions on `c`'s event loop, which stops when the relay
// is done: both directions closed, or the session closed and exited.
void start_relay(Connection& c);

}  // namespace tlsrelay
