#include "base64.hpp"

#include <openssl/evp.h>

#include "secret.hpp"

namespace smtpauth {

namespace {
bool is_alphabet(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

unsigned value_of(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
}
}  // namespace

std::string base64_encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    if (data.empty()) return out;
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(data.data()),
                                  static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    wipe(out);
    out.clear();
    if (text.size() % 4 != 0) return false;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '=') {
            // '=' only in the last two places, and nothing but '=' after it.
            if (i + 2 < text.size()) return false;
            ++padding;
        } else if (!is_alphabet(c) || padding != 0) {
            return false;
        }
    }
    if (text.empty()) return true;
    // The bits under the padding must be zero (RFC 4648 3.5): one spelling
    // per value.
    if (padding != 0) {
        const unsigned last = value_of(static_cast<unsigned char>(text[text.size() - padding - 1]));
        if ((last & (padding == 1 ? 0x03u : 0x0fu)) != 0) return false;
    }
    out.resize(text.size() / 4 * 3);
    // EVP_DecodeBlock decodes the padding as zero bits and counts them.
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) < padding) {
        wipe(out);
        out.clear();
        return false;
    }
    out.resize(static_cast<std::size_t>(n) - padding);
    return true;
}

}  // namespace smtpauth
