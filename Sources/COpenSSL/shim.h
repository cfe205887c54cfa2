#ifndef ARCA_COPENSSL_SHIM_H
#define ARCA_COPENSSL_SHIM_H

// OpenSSL 3 (Debian 12's libssl3). Several calls arca-init needs are macros over SSL_ctrl /
// BIO_ctrl, which Swift cannot import; these inline wrappers give them real signatures.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

// Initialises libssl without reading openssl.cnf: before the pivot the runtime's file system
// belongs to the host, and a planted config could load an engine or provider into PID 1.
// Must run before any other OpenSSL call (later calls keep the first settings). 1 on success.
static inline int arca_openssl_init_without_config(void) {
    return OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

// TLS 1.3 and nothing else, both ends of the range. Returns 1 on success.
static inline int arca_ssl_ctx_tls13_only(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1
        && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}

// Server Name Indication (optional; only for DNS names). Returns 1 on success.
static inline int arca_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// What a memory BIO returns once it is empty: -1 (retry, more may come) or 0 (end of stream).
static inline void arca_bio_set_mem_eof_return(BIO *bio, int value) {
    (void)BIO_set_mem_eof_return(bio, value);
}

#endif
