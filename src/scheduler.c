/* scheduler.c: which job runs next: round robin over the batches that have queued
 * jobs, so one big drop cannot starve a small one dropped after it. A queue whose
 * work is deferred (a fault of its disk, descriptors...) starts nothing, nor
 * does a batch on hold (pdfspoolctl hold). */
#include "scheduler.h"

static uint64_t serve_tick;

static struct job *next_queued(struct batch *b) {
        while (b->next_job < b->n_jobs && b->jobs[b->next_job].state != JOB_QUEUED)
                b->next_job++;
        return b->next_job < b->n_jobs ? &b->jobs[b->next_job] : NULL;
}

struct job *sched_next(struct spool *s) {
        struct batch *best = NULL;

        for (struct queue *q = s->queues; q; q = q->next) {
                if (queue_deferred(q))
                        continue;
                for (struct batch *b = q->batches; b; b = b->next)
                        if (!b->held && b->counts[JOB_QUEUED] > 0 && next_queued(b) && (!best || b->last_served < best->last_served))
                                best = b;
        }
        if (!best)
                return NULL;
        best->last_served = ++serve_tick;
        return next_queued(best);
}
