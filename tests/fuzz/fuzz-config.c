/* fuzz-config: libFuzzer target for config_load(), the YAML configuration parser.
 * Built by ./configure CC=clang --enable-fuzzing (make fuzz), run by .ci/run.
 *
 * Each input is written to a file and loaded; a success must give a configuration
 * whose invariants hold, a failure must say why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config *c = NULL;
        char *error = NULL;
        FILE *f;

        if (!path[0])
                snprintf(path, sizeof(path), "/tmp/fuzz-config.%d.yaml", (int) getpid());
        f = fopen(path, "we");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();
        if (config_load(path, &c, &error) == 0) {
                if (error || !c || !c->state_dir || c->state_dir[0] != '/' || c->n_queues == 0)
                        abort();
                for (size_t i = 0; i < c->n_queues; i++) {
                        const struct queue_config *q = &c->queues[i];
                        if (!q->name || !q->inbox || q->inbox[0] != '/' || !q->outbox || q->outbox[0] != '/' ||
                            config_find_queue(c, q->name) == NULL)
                                abort();
                }
        } else if (!error)
                abort();
        config_free(c);
        free(error);
        return 0;
}
