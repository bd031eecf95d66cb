#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"
#include "verify.hpp"

using namespace checkpassword_nosu;
using test_helpers::make_hash;

TEST_CASE("scheme names") {
    CHECK(scheme_kind("PLAIN") == SchemeKind::plain);
    CHECK(scheme_kind("CLEARTEXT") == SchemeKind::plain);
    CHECK(scheme_kind("CLEAR") == SchemeKind::plain);
    CHECK(scheme_kind("plain") == SchemeKind::plain);
    for (const char* s : {"CRYPT", "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
                          "BLF-CRYPT", "sha512-crypt"})
        CHECK(scheme_kind(s) == SchemeKind::crypt);
    for (const char* s : {"", "SSHA", "SHA256", "CRAM-MD5", "ARGON2ID", "PLAIN-MD5", "SCRAM-SHA-256"})
        CHECK(scheme_kind(s) == SchemeKind::unknown);
}

TEST_CASE("plaintext comparison") {
    CHECK(verify_plain("secret", "secret"));
    CHECK_FALSE(verify_plain("secret", "Secret"));
    CHECK_FALSE(verify_plain("secret", "secret "));
    CHECK_FALSE(verify_plain("secre", "secret"));
}

TEST_CASE("real crypt(3) hashes: right password accepted, wrong refused") {
    for (const char* prefix : {"$y$", "$6$", "$5$", "$2b$", "$1$"}) {
        CAPTURE(prefix);
        const std::string hash = make_hash(prefix, "correct horse");
        REQUIRE(hash.starts_with(prefix));
        CHECK(verify_crypt("correct horse", hash) == CryptResult::match);
        CHECK(verify_crypt("correct horsE", hash) == CryptResult::mismatch);
        CHECK(verify_crypt("", hash) == CryptResult::mismatch);
        CHECK(verify_crypt("correct horse", "!" + hash) == CryptResult::unusable);
        CHECK(is_locked("!" + hash));
        CHECK_FALSE(is_locked(hash));
    }
}

TEST_CASE("traditional DES crypt still verifies") {
    const std::string hash = make_hash("", "pw");
    CHECK(hash.size() == 13);
    CHECK(verify_crypt("pw", hash) == CryptResult::match);
    CHECK(verify_crypt("pX", hash) == CryptResult::mismatch);
}

TEST_CASE("locked and unusable hashes") {
    CHECK(is_locked("!"));
    CHECK(is_locked("*"));
    CHECK(is_locked("!$6$x$y"));
    CHECK_FALSE(is_locked(""));
    CHECK(verify_crypt("pw", "") == CryptResult::unusable);
    CHECK(verify_crypt("pw", "*") == CryptResult::unusable);
    CHECK(verify_crypt("pw", "x") == CryptResult::unusable);
    CHECK(verify_crypt("pw", std::string(1000, '$')) == CryptResult::unusable);
}

TEST_CASE("the dummy crypt runs without complaint") {
    spend_dummy_crypt("anything");
    spend_dummy_crypt("");
}

namespace {
constexpr const char* rfc2195_challenge = "<1896.697170952@postoffice.reston.mci.net>";
constexpr const char* rfc2195_digest = "b913a602c7eda7a495b4e6e7334d3890";
}  // namespace

TEST_CASE("CRAM-MD5: the RFC 2195 example") {
    smtpauth::Secret hex;
    REQUIRE(cram_md5_hex("tanstaaftanstaaf", rfc2195_challenge, hex));
    CHECK(hex.view() == rfc2195_digest);
    CHECK(verify_cram_md5(rfc2195_digest, "tanstaaftanstaaf", rfc2195_challenge) ==
          CramResult::match);
}

TEST_CASE("CRAM-MD5: upper-case hex is accepted") {
    CHECK(verify_cram_md5("B913A602C7EDA7A495B4E6E7334D3890", "tanstaaftanstaaf",
                          rfc2195_challenge) == CramResult::match);
    CHECK(verify_cram_md5("b913A602c7EDa7a495b4e6e7334d3890", "tanstaaftanstaaf",
                          rfc2195_challenge) == CramResult::match);
}

TEST_CASE("CRAM-MD5: wrong digests are refused") {
    const std::string_view key = "tanstaaftanstaaf";
    CHECK(verify_cram_md5("b913a602c7eda7a495b4e6e7334d3891", key, rfc2195_challenge) ==
          CramResult::mismatch);
    CHECK(verify_cram_md5("b913a602c7eda7a495b4e6e7334d389", key, rfc2195_challenge) ==
          CramResult::mismatch);
    CHECK(verify_cram_md5("b913a602c7eda7a495b4e6e7334d38900", key, rfc2195_challenge) ==
          CramResult::mismatch);
    CHECK(verify_cram_md5("g913a602c7eda7a495b4e6e7334d3890", key, rfc2195_challenge) ==
          CramResult::mismatch);
    CHECK(verify_cram_md5(" 913a602c7eda7a495b4e6e7334d3890", key, rfc2195_challenge) ==
          CramResult::mismatch);
    CHECK(verify_cram_md5("", key, rfc2195_challenge) == CramResult::mismatch);
    CHECK(verify_cram_md5(rfc2195_digest, "tanstaaftanstaaF", rfc2195_challenge) ==
          CramResult::mismatch);
    // The angle brackets are part of the HMAC data.
    CHECK(verify_cram_md5(rfc2195_digest, key, "1896.697170952@postoffice.reston.mci.net") ==
          CramResult::mismatch);
}
