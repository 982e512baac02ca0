/* fuzz-manifest: libFuzzer target for manifest_load(). Built by ./configure CC=clang --enable-fuzzing; or by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz-manifest.c src/manifest.c src/yamldoc.c src/sha256.c src/config.c src/util.c \
 *       -lyaml -lcrypto -o fuzz-manifest && ./fuzz-manifest -max_total_time=60
 *
 * Each input is written to a file named "fuzz.batch.yaml" and loaded; a
 * success must give a manifest whose invariants hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct manifest *m = NULL;
        char *error = NULL;
        FILE *f;

        if (!path[0])
                snprintf(path, sizeof(path), "/tmp/fuzz-manifest.%d.batch.yaml", (int) getpid());
        f = fopen(path, "we");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();
        if (manifest_load(path, &m, &error) == 0) {
                if (error || !m || !m->batch || m->n_files == 0 || m->n_files > MANIFEST_MAX_FILES ||
                    strchr(m->batch, '/'))
                        abort();
                for (size_t i = 0; i < m->n_files; i++)
                        if (!m->files[i].path[0] || m->files[i].path[0] == '/' || strstr(m->files[i].path, "//"))
                                abort();
        } else if (!error)
                abort();
        manifest_free(m);
        free(error);
        return 0;
}
