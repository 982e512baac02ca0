/* publish.h: when jobs end, what a batch gives people and tools besides its
 * status files: the summary page, the ZIP, the queue's hooks (publish.c). */
#pragma once
#include <systemd/sd-event.h>
#include "model.h"

struct publisher;

struct publisher *publish_new(sd_event *e);
/* Kills what still runs (a stopping daemon) and frees P. */
void publish_free(struct publisher *p);
/* J ended: its batch's summary page is due (rewritten within seconds, in a
 * child); a failed job runs the queue's job_failed hook. */
void publish_job_ended(struct publisher *p, const struct job *j);
/* B finished (its final status written): its last summary page and, with
 * zip: on, <outbox>/<batch>.zip, in a child; then the batch_finished hook. */
void publish_batch_finished(struct publisher *p, const struct batch *b);
