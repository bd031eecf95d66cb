// base64_decode on any bytes: what it accepts is canonical, so encoding the
// result gives the input back; and anything encoded decodes to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base64.hpp"
#include "check.hpp"

using namespace smtpauth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    std::string decoded = "left over";
    if (base64_decode(input, decoded)) {
        FUZZ_CHECK(input.size() % 4 == 0);
        FUZZ_CHECK(decoded.size() <= input.size() / 4 * 3);
        FUZZ_CHECK(base64_encode(decoded) == input);
    } else {
        FUZZ_CHECK(decoded.empty());
    }

    const std::string encoded = base64_encode(input);
    FUZZ_CHECK(encoded.size() == (size + 2) / 3 * 4);
    std::string back;
    FUZZ_CHECK(base64_decode(encoded, back));
    FUZZ_CHECK(back == input);
    return 0;
}
