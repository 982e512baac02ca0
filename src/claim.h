/* claim.h: taking a complete drop out of the inbox into the spool, atomically,
 * so that the inbox only ever shows what has not been claimed; and getting a
 * claim ready for registration (unpacking an archive in a child process). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "manifest.h"
#include "spool.h"

/* A drop being claimed across file systems is first renamed in its inbox to
 * this prefix and the claim's name: never a drop of its own. */
#define CLAIM_HIDDEN_PREFIX ".pdfspool-claim."

/* Move inbox/<name> (a folder, a PDF, an archive) into a new claim, then
 * register it. Returns 0, -ENOENT if it vanished, or -errno. */
int claim_drop(struct queue *q, const char *name);
/* Move a manifest and the files it lists (those not in MISSING) into a new
 * claim, then register it. */
int claim_manifest(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                   size_t n_missing);
/* Unpack the archive src/<drop> of CLAIM into unpacked/ in a child process
 * with the worker's memory limit; registration goes on when it ends. */
int claim_unpack_start(struct queue *q, const char *claim, const char *drop);
/* True while CLAIM of Q is being unpacked. */
bool claim_unpacking(const struct queue *q, const char *claim);
/* Before a claim without a batch record is registered at start-up: finish or
 * undo what an interrupted claim left (a copy across file systems, a
 * manifest's files still in the inbox, an unpacking that did not end). */
int claim_recover(struct queue *q, const char *claim);
