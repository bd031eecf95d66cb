#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <memory>

namespace tlsrelay {

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

// An encrypted key is refused, never prompted for: there is no terminal.
int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "connection closed";
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

SSL_CTX* new_server_context(const TlsSettings& settings, std::string& error) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        error = openssl_error();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, settings.min_version);
    // One process per connection: no session cache, no tickets to key.
    // (TLS 1.3 sends tickets even with SSL_OP_NO_TICKET, unless told their
    // number is nought: two for nothing, and the greeting queued behind them.)
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    // Read the socket in large blocks, not a record header at a time.
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((!settings.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) ||
        (!settings.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) != 1)) {
        error = "bad TLS_CIPHERS or TLS_CIPHERSUITES: " + openssl_error();
        SSL_CTX_free(ctx);
        return nullptr;
    }
    return ctx;
}

bool use_certificate_and_key(SSL* ssl, int cert_fd, int key_fd, std::string& error) {
    ERR_clear_error();
    // What SSL_use_certificate_chain_file does with a path, from a file
    // already open: the leaf, then every certificate after it.
    Bio certs(BIO_new_fd(cert_fd, BIO_NOCLOSE));
    X509* leaf = certs ? PEM_read_bio_X509_AUX(certs.get(), nullptr, no_passphrase, nullptr) : nullptr;
    bool ok = leaf && SSL_use_certificate(ssl, leaf) == 1;
    X509_free(leaf);
    if (ok) {
        SSL_clear_chain_certs(ssl);
        while (X509* ca = PEM_read_bio_X509(certs.get(), nullptr, no_passphrase, nullptr)) {
            if (SSL_add0_chain_cert(ssl, ca) != 1) {
                X509_free(ca);
                ok = false;
                break;
            }
        }
        // The loop ends at the end of the file, which is no error.
        const unsigned long last = ERR_peek_last_error();
        if (ok && ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) ERR_clear_error();
        else if (last != 0) ok = false;
    }
    if (ok) {
        Bio keys(BIO_new_fd(key_fd, BIO_NOCLOSE));
        EVP_PKEY* key = keys ? PEM_read_bio_PrivateKey(keys.get(), nullptr, no_passphrase, nullptr) : nullptr;
        ok = key && SSL_use_PrivateKey(ssl, key) == 1 && SSL_check_private_key(ssl) == 1;
        EVP_PKEY_free(key);  // SSL_use_PrivateKey took a reference of its own
    }
    if (!ok) error = openssl_error();
    return ok;
}

}  // namespace tlsrelay
