/* intake.h: when is a drop complete, and what kind of thing is it.
 *
 * A drop is an entry at the top of an inbox: a folder, or a single file. It is
 * complete when nothing in it has changed (names, sizes, mtimes, ctimes) for
 * the queue's settle period and no process holds one of its files open for
 * writing; a folder holding the ready marker is complete at once. A manifest
 * is complete when the files it lists are (or its timeout passed).
 *
 * Intake takes nothing itself: it reports a complete drop or manifest to its
 * owner through the handlers the owner gave, and rejects what is no drop
 * (outbox/rejected/). It watches the inbox through watch.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "model.h"

struct intake_handlers {
        /* NAME at the top of the inbox (a folder, a PDF, an archive) is complete:
         * take it. Returns 0 (taken, or left to the spool's recovery), -ENOENT
         * (it vanished) or another -errno (still in the inbox: looked at again). */
        int (*drop_ready)(struct queue *q, const char *name, void *userdata);
        /* Manifest NAME and the files it lists are complete (those in MISSING
         * never came before its timeout). Returns like drop_ready. */
        int (*manifest_ready)(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                              size_t n_missing, void *userdata);
        /* NAME is a share-side request "BATCH.ACTION" (control.h), never a drop: act.
         * Returns 0 (done: the file goes), 1 (refused: the file is rejected with the
         * reason in *RET_REASON, malloc'ed) or -errno (looked at again later). */
        int (*control_ready)(struct queue *q, const char *name, const char *batch, const char *action,
                             char **ret_reason, void *userdata);
};

/* Make Q's intake (Q->intake), watch its inbox and look at what is there
 * already. H and USERDATA must outlive it. */
int intake_start(struct queue *q, const struct intake_handlers *h, void *userdata);
/* Stop watching and forget what settles; Q->intake is NULL after. Accepts a
 * queue without intake. */
void intake_stop(struct queue *q);
/* Look at the whole inbox again (after a deferral, a missed event). */
void intake_rescan(struct queue *q, const char *reason);
/* Why Q takes nothing now (its inbox is missing, cannot be read, does not
 * answer...), or NULL. */
const char *intake_hold_reason(const struct queue *q);
/* What Q's inbox can see, for people (malloc'd; NULL without intake). BRIEF:
 * for STATUS=, only what a network mount cannot see (NULL on a local one). */
char *intake_describe(const struct queue *q, bool brief);
/* Write what each queue can see, and its hold, to <state_dir>/INTAKE_QUEUES_FILE
 * for pdfspoolctl health, when it differs from *LAST (the last written text,
 * kept by the caller; free it at the end). */
#define INTAKE_QUEUES_FILE "queues.json"
int intake_write_queues(struct spool *s, char **last);

/* The completion rule, for one look at a drop (pure: the clock is the caller's).
 * NOW and STABLE_SINCE are CLOCK_MONOTONIC usec; returns 0 when the drop may be
 * taken, else how long to wait before looking again (usec, > 0). */
struct intake_look {
        bool ready_marker;      /* the folder holds the ready marker */
        bool manifest;          /* a manifest file: the commit marker, quiet for one look is enough */
        bool writer;            /* a process holds one of its files open for writing */
        bool incomplete;        /* a file looks cut short */
        uint64_t stable_since;  /* when its fingerprint last changed */
        uint64_t walk_usec;     /* how long a look takes (spaces the looks out) */
        bool remote;            /* on a mount where other machines write: settle defaults to
                                 * CONFIG_REMOTE_SETTLE_USEC, and looks_equal is needed */
        bool looks_equal;       /* this look and the one before gave the same fingerprint */
};
uint64_t intake_wait(const struct queue_config *qc, const struct intake_look *look, uint64_t now);
