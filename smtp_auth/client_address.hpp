// Where the client is, settled before smtp_auth reads or writes a byte of
// SMTP: the log, the CRAM-MD5 challenge and the chain's Received line all
// take it from the UCSPI variables.
#pragma once
#include <chrono>
#include <string>

#include "proxy_header.hpp"

namespace smtp_auth {

// The PROXY header arrives with the balancer's connection: a client that
// has not sent it by then never will.
constexpr std::chrono::seconds proxy_header_timeout{10};

// Reads a PROXY header from `fd`, byte-exactly (what follows it stays in
// the socket for the SMTP dialogue), within `timeout`. Malformed, with the
// reason, on a bad header, end of file, a read error or the timeout.
ProxyHeader read_proxy_header(int fd, std::chrono::milliseconds timeout);

// PROXY_PROTOCOL: unset or empty, no header; "1", a v1 or v2 header is
// required. Throws std::invalid_argument on anything else.
bool proxy_protocol_required();

// Without TCPREMOTEIP (no tcpserver: systemd, inetd) exports the addresses
// of the socket on `fd`. Then, when PROXY_PROTOCOL asks for it, reads the
// header and exports the client's addresses from it, dropping the
// TCPREMOTEHOST and TCPREMOTEINFO that tcpserver found for the balancer.
// False when the connection must be closed (logged). Throws
// std::invalid_argument on a bad PROXY_PROTOCOL.
bool locate_client(int fd);

}  // namespace smtp_auth
