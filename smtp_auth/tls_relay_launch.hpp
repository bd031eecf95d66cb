// Turning the process that holds the client connection into tlsrelay: the
// relay's account, no new privileges, the descriptors in their places, exec.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <string>

#include "tls_config.hpp"

namespace smtp_auth {

// tlsrelay beside smtp_auth's own executable (/proc/self/exe): a file as
// trusted as smtp_auth itself, wherever it is installed. Empty (logged by
// the caller) when /proc cannot tell.
std::string relay_program_path();

// Switches to UID/GID (when root; when not, true only if already that
// account), sets no-new-privileges, lays the descriptors out as
// tlsrelay/inherited_fds.hpp says and execs `program`. Returns only when
// one of these failed, with `error` set.
void exec_relay(const std::string& program, const TlsConfig& config, pid_t session, std::chrono::seconds timeout,
                const std::string& remote_ip, int plain, int verdict, int cert, int key, std::string& error);

}  // namespace smtp_auth
