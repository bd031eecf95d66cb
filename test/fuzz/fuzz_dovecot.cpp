// What smtp_auth reads from Dovecot's auth-client socket, from a hostile
// peer: the bytes (cut into reads of sizes taken from the input's first
// octet) go through DovecotLineReader, dovecot_fields, DovecotHandshake and,
// after DONE, dovecot_reply for request 1, as DovecotConnection and the
// exchange use them.
//
// Checked: lines hold no LF and stay within 16384 octets, and a longer one
// is reported; the fields of a line, escaped again and joined by TABs, are
// the line (so nothing decodes two ways); a handshake that is done has 1 to
// 64 mechanisms with RFC 4422 names; once wrong it stays wrong; a reply is
// for request 1 only and CONT carries exactly its data.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "dovecot_protocol.hpp"

using namespace smtp_auth;

namespace {

std::string escape(std::string_view field) {
    std::string out;
    for (const char c : field) {
        switch (c) {
            case '\0': out += "\0010"; break;
            case '\001': out += "\0011"; break;
            case '\t': out += "\001t"; break;
            case '\r': out += "\001r"; break;
            case '\n': out += "\001l"; break;
            default: out += c;
        }
    }
    return out;
}

bool mechanism_name(std::string_view name) {
    if (name.empty() || name.size() > 20) return false;
    for (const char c : name)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
    return true;
}

// One line; false when the peer is done for (as the connection would be).
bool take(std::string_view line, DovecotHandshake& handshake, bool& done) {
    FUZZ_CHECK(line.size() <= dovecot_max_line);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    const auto fields = dovecot_fields(line);
    if (!fields) return false;
    FUZZ_CHECK(!fields->empty());
    std::string joined;
    for (std::size_t i = 0; i < fields->size(); ++i) {
        if (i > 0) joined += '\t';
        joined += escape((*fields)[i]);
    }
    FUZZ_CHECK(joined == line);

    if (!done) {
        switch (handshake.feed(*fields)) {
            case DovecotHandshake::Status::more: return true;
            case DovecotHandshake::Status::wrong_peer:
                FUZZ_CHECK(!handshake.error().empty());
                FUZZ_CHECK(handshake.feed({"DONE"}) == DovecotHandshake::Status::wrong_peer);
                return false;
            case DovecotHandshake::Status::done: break;
        }
        const auto& mechanisms = handshake.mechanisms();
        FUZZ_CHECK(!mechanisms.empty() && mechanisms.size() <= DovecotHandshake::max_mechanisms);
        for (const auto& m : mechanisms) FUZZ_CHECK(mechanism_name(m.name));
        done = true;
        return true;
    }
    std::string error;
    const auto reply = dovecot_reply(*fields, 1, error);
    if (!reply) {
        FUZZ_CHECK(!error.empty());
        return false;
    }
    FUZZ_CHECK(fields->size() >= 2 && (*fields)[1] == "1");
    if (reply->kind == DovecotReply::Kind::cont) {
        FUZZ_CHECK(fields->size() == 3 && reply->data == (*fields)[2]);
        return true;
    }
    if (reply->user) FUZZ_CHECK(line.find("\tuser=") != std::string_view::npos);
    return false;  // OK or FAIL ends the request
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t cut = data[0] == 0 ? 4096 : data[0];
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

    DovecotLineReader reader;
    DovecotHandshake handshake;
    bool done = false;
    std::string line;
    while (!input.empty()) {
        const auto chunk = input.substr(0, cut);
        input.remove_prefix(chunk.size());
        reader.append(chunk);
        for (;;) {
            const auto status = reader.next(line);
            if (status == DovecotLineReader::Status::need_more) break;
            if (status == DovecotLineReader::Status::too_long) return 0;
            if (!take(line, handshake, done)) return 0;
        }
    }
    // No LF at the end: at most a line's worth is waiting.
    FUZZ_CHECK(reader.next(line) == DovecotLineReader::Status::need_more);
    return 0;
}
