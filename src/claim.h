/* claim.h: taking a complete drop out of the inbox into the spool, atomically,
 * so that the inbox only ever shows what has not been claimed; getting a claim
 * ready for registration (unpacking an archive in a child process); and
 * finishing or undoing what an interrupted claim left. A claim is made here
 * and handed back: its caller registers it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "classify.h"
#include "manifest.h"
#include "model.h"

/* A drop being claimed across file systems is first renamed in its inbox to
 * this prefix and the claim's name: never a drop of its own. */
#define CLAIM_HIDDEN_PREFIX CLASSIFY_DAEMON_PREFIX

/* Move inbox/<name> (a folder, a PDF, an archive) into a new claim; *RET_CLAIM
 * (which the caller set to NULL) gets the claim's name, to be registered.
 * Returns 0 (with *RET_CLAIM NULL when the claim is left for recovery to
 * finish: a copy across file systems that did not end), -ENOENT if it
 * vanished, or -errno (still in the inbox; the queue is deferred when the
 * fault is the spool's). */
int claim_drop(struct queue *q, const char *name, char **ret_claim);
/* Move a manifest and the files it lists (those not in MISSING) into a new
 * claim; like claim_drop. */
int claim_manifest(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                   size_t n_missing, char **ret_claim);

/* Called when an archive's unpacking ended with a result (unpacked, or why not):
 * the claim may be registered. Not called when it is to be tried again (the
 * queue is deferred) or the daemon stops. */
typedef void (*claim_unpacked_fn)(struct queue *q, const char *claim, void *userdata);
/* Unpack the archive src/<drop> of CLAIM into unpacked/ in a child process
 * with the worker's memory limit; DONE is called when it ends. */
int claim_unpack_start(struct queue *q, const char *claim, const char *drop, claim_unpacked_fn done,
                       void *userdata);
/* True while CLAIM of Q is being unpacked. */
bool claim_unpacking(const struct queue *q, const char *claim);
/* True while any claim of Q is being unpacked. */
bool claim_queue_unpacking(const struct queue *q);
/* The one entry of a claim's src/ (a folder, a file, an archive) in *RET;
 * -ENOENT when src/ is positively empty, another -errno when it cannot be read. */
int claim_drop_name(int srcfd, char **ret);
/* Before a claim without a batch record is registered at start-up: finish or
 * undo what an interrupted claim left (a copy across file systems, a
 * manifest's files still in the inbox). Returns 0 when it may be registered. */
int claim_recover(struct queue *q, const char *claim);
