/* scheduler.c: which job runs next. Among the batches that may start a job now,
 * the highest priority first (a manifest's "priority"), and round robin over
 * batches of the same priority, so one big drop cannot starve a small one
 * dropped after it. Nothing starts in a queue whose work is deferred (a fault
 * of its disk, descriptors...) or outside its hours, nor in a batch before its
 * not_before time, nor in a batch on hold (pdfspoolctl hold). */
#include "scheduler.h"
#include "util.h"

static uint64_t serve_tick;

static struct job *next_queued(struct batch *b) {
        while (b->next_job < b->n_jobs && b->jobs[b->next_job].state != JOB_QUEUED)
                b->next_job++;
        return b->next_job < b->n_jobs ? &b->jobs[b->next_job] : NULL;
}

const char *sched_waits(const struct batch *b, uint64_t now, uint64_t *ret_until) {
        uint64_t next;

        *ret_until = 0;
        if (b->not_before > now) {
                *ret_until = b->not_before;
                return "not_before";
        }
        if (!config_hours_open(&b->queue->cfg->hours, now, &next)) {
                *ret_until = next;
                return "hours";
        }
        return NULL;
}

struct job *sched_next(struct spool *s) {
        return sched_next_for(s, EXECUTOR_INHERIT);
}

/* EXECUTOR_INHERIT: any queue's. A queue that says nothing (a test's) is local. */
struct job *sched_next_for(struct spool *s, enum executor e) {
        uint64_t now = now_usec(CLOCK_REALTIME), until;
        struct batch *best = NULL;

        for (struct queue *q = s->queues; q; q = q->next) {
                if (queue_deferred(q) ||
                    (e != EXECUTOR_INHERIT && (q->cfg->executor == EXECUTOR_SLURM) != (e == EXECUTOR_SLURM)))
                        continue;
                for (struct batch *b = q->batches; b; b = b->next) {
                        if (b->held || b->counts[JOB_QUEUED] == 0 || sched_waits(b, now, &until) || !next_queued(b))
                                continue;
                        if (!best || b->priority > best->priority ||
                            (b->priority == best->priority && b->last_served < best->last_served))
                                best = b;
                }
        }
        if (!best)
                return NULL;
        best->last_served = ++serve_tick;
        return next_queued(best);
}

uint64_t sched_wakeup(struct spool *s) {
        uint64_t now = now_usec(CLOCK_REALTIME), until, first = 0;

        for (struct queue *q = s->queues; q; q = q->next)
                for (struct batch *b = q->batches; b; b = b->next)
                        if (!b->held && b->counts[JOB_QUEUED] > 0 && sched_waits(b, now, &until) && until &&
                            (!first || until < first))
                                first = until;
        return first;
}
