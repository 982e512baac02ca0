/* sha256.c: SHA-256 through libcrypto. */
#include "sha256.h"

#include <stdlib.h>

void sha256_init(struct sha256_ctx *c) {
        c->md = EVP_MD_CTX_new();
        if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
                abort();
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t n) {
        if (EVP_DigestUpdate(c->md, data, n) != 1)
                abort();
}

void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_DIGEST_SIZE]) {
        unsigned len = SHA256_DIGEST_SIZE;
        if (EVP_DigestFinal_ex(c->md, out, &len) != 1)
                abort();
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
}

void sha256_buffer(const void *data, size_t n, unsigned char out[SHA256_DIGEST_SIZE]) {
        unsigned len = SHA256_DIGEST_SIZE;
        if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1)
                abort();
}
