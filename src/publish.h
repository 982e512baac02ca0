/* publish.h: when jobs end, what a batch gives people and tools besides its
 * status files: the summary page, the ZIP, the queue's hooks (publish.c). */
#pragma once
#include <systemd/sd-event.h>
#include "model.h"

struct publisher;

struct publisher *publish_new(sd_event *e);
/* A stopping daemon: no new pages of running batches; DONE once what runs
 * (final pages, ZIPs, hooks) has ended, or after GRACE_USEC, when the rest is
 * killed and its temps removed. */
void publish_drain(struct publisher *p, uint64_t grace_usec, void (*done)(void *userdata), void *userdata);
/* Kills what still runs (a stopping daemon), removes its temps, and frees P. */
void publish_free(struct publisher *p);
/* J ended: its batch's summary page is due (rewritten within seconds, in a
 * child); a failed job runs the queue's job_failed hook. */
void publish_job_ended(struct publisher *p, const struct job *j);
/* B finished (its final status written): its last summary page and, with
 * zip: on, <outbox>/<batch>.zip, in a child; then the batch_finished hook. */
void publish_batch_finished(struct publisher *p, const struct batch *b);
