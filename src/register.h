/* register.h: turning a claim into a batch. */
#pragma once
#include <stdbool.h>
#include "spool.h"

/* Make a claimed drop a batch: what it holds, the names its jobs get, the
 * batch record. An archive is unpacked first, in a child process; registration
 * goes on when that is done. A claim already registered is left alone.
 * Returns 0 or -errno. */
int register_claim(struct queue *q, const char *claim);
/* True while CLAIM of Q is being (or waits to be) registered. */
bool register_busy(const struct queue *q, const char *claim);
