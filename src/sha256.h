/* sha256.h: SHA-256 for the checksums a batch manifest may give, through
 * OpenSSL's libcrypto (EVP). */
#pragma once
#include <stddef.h>
#include <openssl/evp.h>

#define SHA256_DIGEST_SIZE 32

struct sha256_ctx {
        EVP_MD_CTX *md;
};

/* Allocation failure is fatal, like xmalloc. */
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t n);
/* Writes the digest and frees C; C must be initialised again before it is reused. */
void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_DIGEST_SIZE]);
void sha256_buffer(const void *data, size_t n, unsigned char out[SHA256_DIGEST_SIZE]);
