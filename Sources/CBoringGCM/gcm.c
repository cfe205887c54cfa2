#include "CBoringGCM.h"

// The few functions of BoringSSL's EVP_AEAD interface used here, under the prefix swift-crypto
// gives its bundled copy (CCryptoBoringSSL_). The `Crypto` product links that copy into every
// binary that uses it; swift-crypto does not publish its headers as a product, so the
// declarations are repeated from BoringSSL's include/openssl/aead.h. A swift-crypto without these
// names fails at link time.
struct evp_aead_st;
struct evp_aead_ctx_st;
const struct evp_aead_st *CCryptoBoringSSL_EVP_aead_aes_256_gcm(void);
struct evp_aead_ctx_st *CCryptoBoringSSL_EVP_AEAD_CTX_new(const struct evp_aead_st *aead, const uint8_t *key,
                                                          size_t key_len, size_t tag_len);
void CCryptoBoringSSL_EVP_AEAD_CTX_free(struct evp_aead_ctx_st *ctx);
int CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(const struct evp_aead_ctx_st *ctx, uint8_t *out, uint8_t *out_tag,
                                               size_t *out_tag_len, size_t max_out_tag_len, const uint8_t *nonce,
                                               size_t nonce_len, const uint8_t *in, size_t in_len,
                                               const uint8_t *extra_in, size_t extra_in_len, const uint8_t *ad,
                                               size_t ad_len);
int CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(const struct evp_aead_ctx_st *ctx, uint8_t *out, const uint8_t *nonce,
                                              size_t nonce_len, const uint8_t *in, size_t in_len,
                                              const uint8_t *in_tag, size_t in_tag_len, const uint8_t *ad,
                                              size_t ad_len);

enum { nonce_size = 12, tag_size = 16 };

arca_gcm_key *arca_gcm_key_new(const uint8_t *key, size_t key_length) {
    if (key_length != 32) return NULL;
    return (arca_gcm_key *)CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), key, key_length,
                                                             tag_size);
}

void arca_gcm_key_free(arca_gcm_key *key) {
    CCryptoBoringSSL_EVP_AEAD_CTX_free((struct evp_aead_ctx_st *)key);  // OPENSSL_free wipes it
}

int arca_gcm_seal(const arca_gcm_key *key, uint8_t *out, uint8_t *tag, const uint8_t *nonce,
                  const uint8_t *in, size_t length, const uint8_t *additional, size_t additional_length) {
    size_t tag_length = 0;
    int ok = CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter((const struct evp_aead_ctx_st *)key, out, tag, &tag_length,
                                                        tag_size, nonce, nonce_size, in, length, NULL, 0,
                                                        additional, additional_length);
    return ok == 1 && tag_length == tag_size;
}

int arca_gcm_open(const arca_gcm_key *key, uint8_t *out, const uint8_t *nonce, const uint8_t *in, size_t length,
                  const uint8_t *tag, const uint8_t *additional, size_t additional_length) {
    return CCryptoBoringSSL_EVP_AEAD_CTX_open_gather((const struct evp_aead_ctx_st *)key, out, nonce, nonce_size,
                                                     in, length, tag, tag_size, additional, additional_length) == 1;
}
