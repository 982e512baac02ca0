/* scheduler.h: which job runs next, and when a batch that waits may start. */
#pragma once
#include "model.h"

/* The next queued job that may start now, or NULL: highest priority first,
 * fair (the batch served longest ago first) within a priority. Does not change
 * the job's state. */
struct job *sched_next(struct spool *s);
/* The same among the queues that executor E runs (config.h). */
struct job *sched_next_for(struct spool *s, enum executor e);
/* Why batch B starts no job at NOW (realtime usec): "not_before" (its
 * manifest's time) or "hours" (outside its queue's hours), with *RET_UNTIL set
 * to when that ends; NULL when it may start. Deferral is the queue's own. */
const char *sched_waits(const struct batch *b, uint64_t now, uint64_t *ret_until);
/* The earliest time (realtime usec) a batch with queued jobs that waits may
 * start, or 0 when none waits. */
uint64_t sched_wakeup(struct spool *s);
