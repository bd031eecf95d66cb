// SMTPAUTH_HANDOFF both ways: a value decode_handoff accepts is within the
// bounds and survives re-encoding; a Handoff built from the bytes encodes
// exactly when it is within the bounds, and decodes to itself.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "check.hpp"
#include "handoff.hpp"

using namespace smtpauth;

namespace {

bool line_within_bounds(const std::string& line) {
    return !line.empty() && line.size() <= handoff_max_line && line.back() == '\n' &&
           line.find('\n') == line.size() - 1;
}

bool within_bounds(const Handoff& h) {
    if (h.answered.size() > handoff_max_lines || h.pending.size() > handoff_max_pending) return false;
    for (const auto& line : h.answered)
        if (!line_within_bounds(line)) return false;
    return true;
}

void check_round_trip(const Handoff& h) {
    std::string encoded;
    try {
        encoded = encode_handoff(h);
    } catch (const std::length_error&) {
        FUZZ_FAIL("a handoff within the bounds must encode");
    }
    FUZZ_CHECK(encoded.find('\0') == std::string::npos);  // it goes into the environment
    const auto back = decode_handoff(encoded);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(*back == h);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (const auto decoded = decode_handoff(input)) {
        FUZZ_CHECK(within_bounds(*decoded));
        check_round_trip(*decoded);
    }

    FuzzedDataProvider provider(data, size);
    const bool end_lines = provider.ConsumeBool();
    Handoff h;
    const auto lines = provider.ConsumeIntegralInRange<std::size_t>(0, handoff_max_lines + 2);
    for (std::size_t i = 0; i < lines; ++i) {
        h.answered.push_back(provider.ConsumeRandomLengthString(handoff_max_line + 8));
        if (end_lines) h.answered.back() += '\n';
    }
    h.pending = provider.ConsumeRemainingBytesAsString();
    if (within_bounds(h)) {
        check_round_trip(h);
    } else {
        bool refused = false;
        try {
            (void)encode_handoff(h);
        } catch (const std::length_error&) {
            refused = true;
        }
        FUZZ_CHECK(refused);
    }
    return 0;
}
