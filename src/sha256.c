/* sha256.c: SHA-256 through libgcrypt. */
#include "sha256.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* libgcrypt wants to be told once, before first use, that no one else sets it up. */
static void init_once(void) {
        if (!gcry_check_version(GCRYPT_VERSION))
                abort();
        (void) gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

static void ensure_init(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&once, init_once);
}

void sha256_init(struct sha256_ctx *c) {
        ensure_init();
        if (gcry_md_open(&c->md, GCRY_MD_SHA256, 0) != 0)
                abort();
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t n) {
        gcry_md_write(c->md, data, n);
}

void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_DIGEST_SIZE]) {
        const unsigned char *d = gcry_md_read(c->md, GCRY_MD_SHA256);

        if (!d)
                abort();
        memcpy(out, d, SHA256_DIGEST_SIZE);
        gcry_md_close(c->md);
        c->md = NULL;
}

void sha256_buffer(const void *data, size_t n, unsigned char out[SHA256_DIGEST_SIZE]) {
        ensure_init();
        gcry_md_hash_buffer(GCRY_MD_SHA256, out, data, n);
}
