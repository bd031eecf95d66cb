// The certificate and key read from open files, as smtp_auth checks them
// and tlsrelay uses them.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <unistd.h>

#include <string>

#include "tls_context.hpp"

using namespace tlsrelay;

namespace {

std::string pem_key(EVP_PKEY* key, bool encrypted = false) {
    BIO* b = BIO_new(BIO_s_mem());
    if (encrypted)
        PEM_write_bio_PrivateKey(b, key, EVP_aes_128_cbc(), reinterpret_cast<const unsigned char*>("secret"), 6,
                                 nullptr, nullptr);
    else
        PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return out;
}

std::string pem_cert(EVP_PKEY* key) {
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, key, EVP_sha256());
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    X509_free(x);
    return out;
}

// An open file holding `text`, at offset 0.
int file_with(const std::string& text) {
    char name[] = "/tmp/tls_context_test.XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::unlink(name);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::lseek(fd, 0, SEEK_SET);
    return fd;
}

bool usable(const std::string& cert, const std::string& key, std::string& error) {
    const TlsSettings settings{"", "", TLS1_2_VERSION};
    SSL_CTX* ctx = new_server_context(settings, error);
    REQUIRE(ctx);
    SSL* ssl = SSL_new(ctx);
    const int c = file_with(cert), k = file_with(key);
    const bool ok = use_certificate_and_key(ssl, c, k, error);
    ::close(c);
    ::close(k);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return ok;
}

}  // namespace

TEST_CASE("certificate and key from open files, apart or in one file") {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    EVP_PKEY* other = EVP_EC_gen("P-256");
    REQUIRE(key);
    const std::string cert = pem_cert(key), k = pem_key(key);
    std::string error;
    CHECK(usable(cert, k, error));
    CHECK(usable(cert + k, cert + k, error));  // TLS_KEY defaults to TLS_CERT
    CHECK(usable(k + cert, k + cert, error));  // in either order
    CHECK(usable(cert + pem_cert(other), k, error));  // a chain
    SUBCASE("refused") {
        CHECK_FALSE(usable(cert, pem_key(other), error));  // not the certificate's key
        CHECK_FALSE(error.empty());
        CHECK_FALSE(usable(cert, pem_key(key, true), error));  // encrypted: never prompted for
        CHECK_FALSE(usable("", k, error));
        CHECK_FALSE(usable(cert, "", error));
        CHECK_FALSE(usable("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", k, error));
    }
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

TEST_CASE("settings") {
    CHECK(min_version_from_name("") == TLS1_2_VERSION);
    CHECK(min_version_from_name("TLSv1.2") == TLS1_2_VERSION);
    CHECK(min_version_from_name("TLSv1.3") == TLS1_3_VERSION);
    CHECK(min_version_from_name("TLSv1.1") == 0);
    std::string error;
    CHECK_FALSE(new_server_context({"NO-SUCH-CIPHER", "", TLS1_2_VERSION}, error));
    CHECK(error.find("TLS_CIPHERS") != std::string::npos);
}
