/* register.h: turning a claim into a batch, in a child process: what it holds,
 * the names its jobs get, manifest checksums, the batch record. The event
 * loop only waits for the child; the outcome goes to the handlers the caller
 * gives. */
#pragma once
#include <stdbool.h>

#include "model.h"

struct register_handlers {
        /* CLAIM's batch record is written: load it into the spool. */
        void (*registered)(struct queue *q, const char *claim, void *userdata);
        /* CLAIM holds an archive not unpacked yet (DROP): unpack it, then register again. */
        void (*needs_unpack)(struct queue *q, const char *claim, const char *drop, void *userdata);
};

/* Register CLAIM of Q (in order, at most a few children at once). A claim
 * already registered, or being registered, is left alone. A registration that
 * fails for a fault of the spool's resources defers the queue and is retried
 * from the claim. H and USERDATA must outlive the registration. */
int register_claim(struct queue *q, const char *claim, const struct register_handlers *h, void *userdata);
/* True while CLAIM of Q is being (or waits to be) registered. */
bool register_busy(const struct queue *q, const char *claim);
/* True while any claim of Q is being (or waits to be) registered. */
bool register_queue_busy(const struct queue *q);
