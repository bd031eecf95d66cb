#include "handoff.hpp"

#include <stdexcept>

#include "base64.hpp"

namespace smtpauth {

namespace {
constexpr std::string_view version_tag = "1:";

bool valid_line(std::string_view line) {
    return !line.empty() && line.size() <= handoff_max_line && line.back() == '\n' &&
           line.find('\n') == line.size() - 1;
}
}  // namespace

std::string encode_handoff(const Handoff& handoff) {
    if (handoff.answered.size() > handoff_max_lines || handoff.pending.size() > handoff_max_pending)
        throw std::length_error("handoff too large");
    std::string lines;
    for (const auto& line : handoff.answered) {
        if (!valid_line(line)) throw std::length_error("handoff line malformed or too long");
        lines += line;
    }
    std::string out(version_tag);
    out += base64_encode(lines);
    out += ':';
    out += base64_encode(handoff.pending);
    return out;
}

std::optional<Handoff> decode_handoff(std::string_view value) {
    if (!value.starts_with(version_tag)) return std::nullopt;
    value.remove_prefix(version_tag.size());
    const auto colon = value.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto lines_b64 = value.substr(0, colon);
    const auto pending_b64 = value.substr(colon + 1);
    // Bound the work before decoding anything.
    if (lines_b64.size() > 4 * (handoff_max_lines * handoff_max_line / 3 + 1) ||
        pending_b64.size() > 4 * (handoff_max_pending / 3 + 1))
        return std::nullopt;

    Handoff h;
    std::string lines;
    if (!base64_decode(lines_b64, lines) || !base64_decode(pending_b64, h.pending))
        return std::nullopt;
    if (h.pending.size() > handoff_max_pending) return std::nullopt;
    std::size_t start = 0;
    while (start < lines.size()) {
        const auto lf = lines.find('\n', start);
        if (lf == std::string::npos) return std::nullopt;  // a line without its LF
        h.answered.emplace_back(lines.substr(start, lf + 1 - start));
        if (!valid_line(h.answered.back()) || h.answered.size() > handoff_max_lines)
            return std::nullopt;
        start = lf + 1;
    }
    return h;
}

}  // namespace smtpauth
