// The TLS relay's sandbox: once the handshake is done and the private key
// freed, the relay parses the client's records with nothing else to do but
// move bytes, and is held to that.
#pragma once

namespace tlsrelay {

// No new privileges, no core file, no new process, few descriptors, and a
// seccomp filter that kills the process on any system call outside the
// relay loop's (see sandbox.cpp). False (nothing is half applied that
// matters: the caller ends the session) when the kernel refuses.
bool sandbox_relay();

}  // namespace tlsrelay
