// Base64 (RFC 4648) as SASL uses it: strict decoding, no whitespace.
#pragma once
#include <string>
#include <string_view>

namespace smtpauth {

std::string base64_encode(std::string_view data);

// Decodes into `out` (replacing its contents). Returns false, leaving `out`
// empty, unless the input is canonical base64: a multiple of four characters
// from the standard alphabet, with at most two '=' and only at the end, and
// zero bits under the padding.
// The empty string decodes to the empty string.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace smtpauth
