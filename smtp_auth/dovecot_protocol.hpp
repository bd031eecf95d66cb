// Dovecot's auth-client protocol, the parts that read what the server says:
// lines, fields, the handshake and the replies to AUTH. Pure: no I/O, so
// each piece has unit tests and a fuzz target.
//
// Lines end in LF and hold TAB-separated fields; inside a field \001
// escapes: \001 0 = NUL, \001 1 = \001, \001 t = TAB, \001 r = CR,
// \001 l = LF. A line is at most 16384 octets.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp_auth {

inline constexpr std::size_t dovecot_max_line = 16384;  // without its LF

// Splits the server's bytes into lines, bounded.
class DovecotLineReader {
public:
    enum class Status { line, need_more, too_long };
    ~DovecotLineReader();
    void append(std::string_view bytes);
    // The next line without its LF, in `line`. too_long: no LF within
    // dovecot_max_line octets (the connection is then useless).
    Status next(std::string& line);

private:
    std::string buffer_;
    std::size_t start_ = 0;
};

// The fields of one line, \001 escapes decoded. Nothing for a raw NUL or
// CR, or an escape other than the five above.
std::optional<std::vector<std::string>> dovecot_fields(std::string_view line);

struct DovecotMechanism {
    std::string name{};      // upper case, RFC 4422 characters
    bool plaintext = false;  // the secret travels as it is (PLAIN, LOGIN)
    bool private_ = false;   // not for clients (Dovecot's own tokens)
    bool anonymous = false;
};

// The server's handshake, a line at a time: VERSION 1 x first, MECH lines,
// SPID, CUID, COOKIE, DONE. A different major version, a SPID before any
// MECH (auth-master and auth-userdb sockets say only VERSION and SPID), no
// MECH before DONE, or a line that is not Dovecot's is the wrong peer.
class DovecotHandshake {
public:
    enum class Status { more, done, wrong_peer };
    static constexpr std::size_t max_lines = 256;
    static constexpr std::size_t max_mechanisms = 64;

    Status feed(const std::vector<std::string>& fields);
    const std::string& error() const { return error_; }  // after wrong_peer
    const std::vector<DovecotMechanism>& mechanisms() const { return mechanisms_; }

private:
    Status wrong(std::string why);

    bool version_ = false;
    bool spid_ = false;
    std::size_t lines_ = 0;
    std::vector<DovecotMechanism> mechanisms_;
    std::string error_;
};

// Can a client use it through us? Not private, not anonymous, and not a
// channel-binding "-PLUS" one: the auth server cannot see our TLS channel.
bool dovecot_offerable(const DovecotMechanism& m);

// The server's answer to AUTH or CONT for request `id`.
struct DovecotReply {
    enum class Kind { cont, ok, fail };
    Kind kind;
    std::string data{};               // cont: the challenge, still base64
    std::optional<std::string> user{};  // user=, decoded
    bool temporary = false;           // fail: code=temp_fail, or "temp" (v2.2)
};

// Nothing (and `error` says why) when the line is not such an answer.
std::optional<DovecotReply> dovecot_reply(const std::vector<std::string>& fields, unsigned id,
                                          std::string& error);

// Where the auth service listens: DOVECOT_AUTH, a UNIX socket path (it
// starts with "/"), or "IPv4:port" or "[IPv6]:port" for an inet_listener.
// Addresses only, no names: a DNS lookup could stall every session.
struct DovecotAddress {
    std::string path;  // set for a UNIX socket
    std::string host;  // else an IP address
    unsigned short port = 0;
    std::string text() const;  // for the log
};

// Throws std::invalid_argument.
DovecotAddress parse_dovecot_address(std::string_view value);

}  // namespace smtp_auth
