#ifndef ARCA_CBORINGGCM_H
#define ARCA_CBORINGGCM_H

#include <stddef.h>
#include <stdint.h>

/// AES-256-GCM with 12-byte nonces and 16-byte tags, from the BoringSSL that swift-crypto links
/// (README.md): the key schedule is expanded once per key, and sealing and opening work on
/// caller-owned memory (in place allowed), without CryptoKit's per-call context and copies.

/// An expanded AES-256-GCM key; immutable after creation, safe to use from several threads.
typedef struct arca_gcm_key arca_gcm_key;

/// A key from 32 bytes; NULL if BoringSSL refuses it (wrong length, no memory).
arca_gcm_key *arca_gcm_key_new(const uint8_t *key, size_t key_length);

/// Frees (and wipes) a key; NULL is allowed.
void arca_gcm_key_free(arca_gcm_key *key);

/// Encrypts `length` bytes of `in` into `out` (which may be `in`) and writes the 16-byte tag to
/// `tag`. Returns 1 on success, 0 on failure.
int arca_gcm_seal(const arca_gcm_key *key, uint8_t *out, uint8_t *tag, const uint8_t *nonce,
                  const uint8_t *in, size_t length, const uint8_t *additional, size_t additional_length);

/// Checks the 16-byte `tag` over `in` and `additional` and decrypts `length` bytes into `out`
/// (which may be `in`). Returns 1 if authentic, 0 otherwise (then `out` must not be used).
int arca_gcm_open(const arca_gcm_key *key, uint8_t *out, const uint8_t *nonce, const uint8_t *in, size_t length,
                  const uint8_t *tag, const uint8_t *additional, size_t additional_length);

#endif
