#include "dovecot_protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "secret.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

bool is_unsigned(std::string_view s) {
    return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 4422 3.1: 1 to 20 of [A-Z0-9-_]. Dovecot sends upper case; lower
// case is taken and raised.
std::optional<std::string> mechanism_name(std::string_view name) {
    if (name.empty() || name.size() > 20) return std::nullopt;
    std::string out;
    for (char c : name) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return std::nullopt;
        out += c;
    }
    return out;
}

}  // namespace

DovecotLineReader::~DovecotLineReader() { wipe(buffer_); }

void DovecotLineReader::append(std::string_view bytes) {
    if (start_ > 0) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    buffer_.append(bytes);
}

DovecotLineReader::Status DovecotLineReader::next(std::string& line) {
    const auto lf = buffer_.find('\n', start_);
    if (lf == std::string::npos) return buffer_.size() - start_ > dovecot_max_line ? Status::too_long : Status::need_more;
    if (lf - start_ > dovecot_max_line) return Status::too_long;
    line.assign(buffer_, start_, lf - start_);
    start_ = lf + 1;
    return Status::line;
}

std::optional<std::vector<std::string>> dovecot_fields(std::string_view line) {
    std::vector<std::string> fields(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == '\t') {
            fields.emplace_back();
        } else if (c == '\0' || c == '\r' || c == '\n') {
            return std::nullopt;
        } else if (c == '\001') {
            if (++i == line.size()) return std::nullopt;
            switch (line[i]) {
                case '0': fields.back() += '\0'; break;
                case '1': fields.back() += '\001'; break;
                case 't': fields.back() += '\t'; break;
                case 'r': fields.back() += '\r'; break;
                case 'l': fields.back() += '\n'; break;
                default: return std::nullopt;
            }
        } else {
            fields.back() += c;
        }
    }
    return fields;
}

DovecotHandshake::Status DovecotHandshake::wrong(std::string why) {
    error_ = std::move(why);
    return Status::wrong_peer;
}

DovecotHandshake::Status DovecotHandshake::feed(const std::vector<std::string>& fields) {
    if (!error_.empty()) return Status::wrong_peer;
    if (++lines_ > max_lines) return wrong("handshake of more than " + std::to_string(max_lines) + " lines");
    const std::string& command = fields.at(0);
    if (!version_) {
        if (command != "VERSION" || fields.size() < 3 || !is_unsigned(fields[1]) || !is_unsigned(fields[2]))
            return wrong("no VERSION line first");
        if (fields[1] != "1") return wrong("protocol version " + fields[1] + ", not 1");
        version_ = true;
        return Status::more;
    }
    if (command == "MECH") {
        if (spid_) return wrong("MECH after SPID");
        if (fields.size() < 2) return wrong("MECH without a name");
        const auto name = mechanism_name(fields[1]);
        if (!name) return wrong("MECH with a name that is not a SASL mechanism");
        if (mechanisms_.size() == max_mechanisms) return wrong("more than " + std::to_string(max_mechanisms) + " MECH lines");
        DovecotMechanism m{*name};
        for (std::size_t i = 2; i < fields.size(); ++i) {
            if (fields[i] == "plaintext") m.plaintext = true;
            else if (fields[i] == "private") m.private_ = true;
            else if (fields[i] == "anonymous") m.anonymous = true;
        }
        mechanisms_.push_back(std::move(m));
        return Status::more;
    }
    if (command == "SPID") {
        // auth-master and auth-userdb say VERSION and SPID, never MECH.
        if (mechanisms_.empty()) return wrong("SPID before any MECH (a master or userdb socket)");
        spid_ = true;
        return Status::more;
    }
    if (command == "DONE") {
        if (mechanisms_.empty()) return wrong("DONE without any MECH");
        return Status::done;
    }
    if (command == "CUID" || command == "COOKIE") return Status::more;
    return wrong("unexpected handshake line");
}

bool dovecot_offerable(const DovecotMechanism& m) {
    return !m.private_ && !m.anonymous && !m.name.ends_with("-PLUS");
}

std::optional<DovecotReply> dovecot_reply(const std::vector<std::string>& fields, unsigned id, std::string& error) {
    const std::string& command = fields.at(0);
    DovecotReply reply{DovecotReply::Kind::ok};
    if (command == "CONT") reply.kind = DovecotReply::Kind::cont;
    else if (command == "FAIL") reply.kind = DovecotReply::Kind::fail;
    else if (command != "OK") {
        error = "unexpected reply";
        return std::nullopt;
    }
    if (fields.size() < 2 || fields[1] != std::to_string(id)) {
        error = "reply for another request";
        return std::nullopt;
    }
    if (reply.kind == DovecotReply::Kind::cont) {
        if (fields.size() != 3) {
            error = "CONT without its data";
            return std::nullopt;
        }
        reply.data = fields[2];
        return reply;
    }
    for (std::size_t i = 2; i < fields.size(); ++i) {
        const std::string_view f = fields[i];
        if (f.starts_with("user=")) reply.user = std::string(f.substr(5));
        else if (f == "temp" || f == "code=temp_fail") reply.temporary = true;
    }
    return reply;
}

std::string DovecotAddress::text() const {
    if (!path.empty()) return path;
    return (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" + std::to_string(port);
}

DovecotAddress parse_dovecot_address(std::string_view value) {
    const auto bad = [](std::string why) { return std::invalid_argument("DOVECOT_AUTH " + why); };
    DovecotAddress a;
    if (value.starts_with('/')) {
        // sockaddr_un holds 108 octets with the NUL.
        if (value.size() > 107) throw bad("is a socket path over 107 octets");
        if (value.find('\0') != std::string_view::npos) throw bad("holds a NUL");
        a.path = std::string(value);
        return a;
    }
    const auto colon = value.rfind(':');
    if (colon == std::string_view::npos)
        throw bad("must be a socket path (\"/...\") or an address and port (\"127.0.0.1:12345\", \"[::1]:12345\")");
    std::string_view host = value.substr(0, colon);
    const std::string_view port = value.substr(colon + 1);
    const bool v6 = host.starts_with('[') && host.ends_with(']');
    if (v6) host = host.substr(1, host.size() - 2);
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || n == 0 || n > 65535)
        throw bad("has no port from 1 to 65535 after the last \":\"");
    unsigned char ip[16];
    const std::string h(host);
    if (::inet_pton(v6 ? AF_INET6 : AF_INET, h.c_str(), ip) != 1)
        throw bad(v6 ? "has no IPv6 address in the brackets"
                     : "has no IPv4 address before the port (IPv6 goes in brackets; no host names)");
    a.host = h;
    a.port = static_cast<unsigned short>(n);
    return a;
}

}  // namespace smtp_auth
