/* sha256.h: SHA-256 for the checksums a batch manifest may give, through
 * libgcrypt, which libsystemd already maps into every process of ours (OpenSSL's
 * libcrypto, used before, added 1.4 MiB to the idle daemon's resident set). */
#pragma once
#include <stddef.h>
#include <gcrypt.h>

#define SHA256_DIGEST_SIZE 32

struct sha256_ctx {
        gcry_md_hd_t md;
};

/* Allocation failure is fatal, like xmalloc. */
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t n);
/* Writes the digest and frees C; C must be initialised again before it is reused. */
void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_DIGEST_SIZE]);
void sha256_buffer(const void *data, size_t n, unsigned char out[SHA256_DIGEST_SIZE]);
