/* metrics.c: Prometheus text exposition of the spool: gauges read from the
 * store's memory when written, counters and the histogram kept here as jobs
 * end. Counters start at zero with the daemon (Prometheus handles resets). */
#include "metrics.h"
#include "fsutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double buckets[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };

struct queue_metrics {
        char *queue;
        uint64_t ended[_JOB_STATE_MAX];
        uint64_t pages;
        uint64_t bucket_counts[ELEMENTSOF(buckets)]; /* cumulative when written */
        uint64_t count;
        double sum;
        struct queue_metrics *next;
};

struct metrics {
        struct queue_metrics *queues;
};

struct metrics *metrics_new(void) {
        return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m) {
        if (!m)
                return;
        for (struct queue_metrics *q = m->queues, *next; q; q = next) {
                next = q->next;
                free(q->queue);
                free(q);
        }
        free(m);
}

static struct queue_metrics *queue_metrics(struct metrics *m, const char *name) {
        struct queue_metrics **p = &m->queues;

        for (; *p; p = &(*p)->next)
                if (strcmp((*p)->queue, name) == 0)
                        return *p;
        *p = xcalloc(1, sizeof(**p));
        (*p)->queue = xstrdup(name);
        return *p;
}

void metrics_job_ended(struct metrics *m, const struct job *j) {
        if (!m)
                return;
        struct queue_metrics *q = queue_metrics(m, j->batch->queue->name);
        q->ended[j->state]++;
        q->pages += j->pages;
        if (j->state == JOB_CANCELED)
                return;
        for (size_t i = 0; i < ELEMENTSOF(buckets); i++)
                if (j->seconds <= buckets[i])
                        q->bucket_counts[i]++;
        q->count++;
        q->sum += j->seconds;
}

/* Queue names are [A-Za-z0-9_.-] (config.c): they need no escaping in a label. */
static void write_queue_gauges(FILE *f, const struct spool *s, uint64_t now) {
        fputs("# HELP pdfspool_jobs Jobs of the batches still in the spool, by state.\n"
              "# TYPE pdfspool_jobs gauge\n", f);
        for (const struct queue *q = s->queues; q; q = q->next) {
                size_t counts[_JOB_STATE_MAX] = {};
                for (const struct batch *b = q->batches; b; b = b->next)
                        for (int st = 0; st < _JOB_STATE_MAX; st++)
                                counts[st] += b->counts[st];
                for (int st = 0; st < _JOB_STATE_MAX; st++)
                        fprintf(f, "pdfspool_jobs{queue=\"%s\",state=\"%s\"} %zu\n", q->name, job_state_to_string(st),
                                counts[st]);
        }
        fputs("# HELP pdfspool_queue_depth Jobs waiting for a worker.\n# TYPE pdfspool_queue_depth gauge\n", f);
        for (const struct queue *q = s->queues; q; q = q->next) {
                size_t queued = 0;
                for (const struct batch *b = q->batches; b; b = b->next)
                        queued += b->counts[JOB_QUEUED];
                fprintf(f, "pdfspool_queue_depth{queue=\"%s\"} %zu\n", q->name, queued);
        }
        fputs("# HELP pdfspool_oldest_queued_job_age_seconds Age of the oldest job waiting for a worker "
              "(0 when none waits).\n# TYPE pdfspool_oldest_queued_job_age_seconds gauge\n", f);
        for (const struct queue *q = s->queues; q; q = q->next) {
                uint64_t oldest = 0;
                for (const struct batch *b = q->batches; b; b = b->next)
                        if (b->counts[JOB_QUEUED] > 0 && b->created && (!oldest || b->created < oldest))
                                oldest = b->created;
                fprintf(f, "pdfspool_oldest_queued_job_age_seconds{queue=\"%s\"} %.3f\n", q->name,
                        oldest && now > oldest ? (double) (now - oldest) / USEC_PER_SEC : 0.0);
        }
}

static void write_counters(FILE *f, const struct metrics *m) {
        fputs("# HELP pdfspool_jobs_ended_total Jobs that ended since the daemon started, by state.\n"
              "# TYPE pdfspool_jobs_ended_total counter\n", f);
        for (const struct queue_metrics *q = m->queues; q; q = q->next)
                for (int st = JOB_DONE; st < _JOB_STATE_MAX; st++)
                        fprintf(f, "pdfspool_jobs_ended_total{queue=\"%s\",state=\"%s\"} %" PRIu64 "\n", q->queue,
                                job_state_to_string(st), q->ended[st]);
        fputs("# HELP pdfspool_pages_processed_total Pages of jobs done since the daemon started.\n"
              "# TYPE pdfspool_pages_processed_total counter\n", f);
        for (const struct queue_metrics *q = m->queues; q; q = q->next)
                fprintf(f, "pdfspool_pages_processed_total{queue=\"%s\"} %" PRIu64 "\n", q->queue, q->pages);
        fputs("# HELP pdfspool_job_processing_seconds Time from a job's start to its end.\n"
              "# TYPE pdfspool_job_processing_seconds histogram\n", f);
        for (const struct queue_metrics *q = m->queues; q; q = q->next) {
                for (size_t i = 0; i < ELEMENTSOF(buckets); i++)
                        fprintf(f, "pdfspool_job_processing_seconds_bucket{queue=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                                q->queue, buckets[i], q->bucket_counts[i]);
                fprintf(f, "pdfspool_job_processing_seconds_bucket{queue=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", q->queue,
                        q->count);
                fprintf(f, "pdfspool_job_processing_seconds_sum{queue=\"%s\"} %.6f\n", q->queue, q->sum);
                fprintf(f, "pdfspool_job_processing_seconds_count{queue=\"%s\"} %" PRIu64 "\n", q->queue, q->count);
        }
}

int metrics_write(const struct metrics *m, const struct spool *s, const char *path) {
        char *buf = NULL, *dir;
        size_t len = 0;
        const char *slash = strrchr(path, '/');
        FILE *f = open_memstream(&buf, &len);
        int r;

        if (!f)
                return -errno;
        write_queue_gauges(f, s, now_usec(CLOCK_REALTIME));
        write_counters(f, m);
        fputs("# HELP pdfspool_worker_restarts_total Workers that ended other than by the daemon's choice.\n"
              "# TYPE pdfspool_worker_restarts_total counter\n", f);
        fprintf(f, "pdfspool_worker_restarts_total %" PRIu64 "\n", s->worker_restarts);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t) (slash - path));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? -errno : fs_write_atomic(dfd, slash + 1, buf, len, 0644, (gid_t) -1, 0);
        if (dfd >= 0)
                close(dfd);
        free(dir);
        free(buf);
        return r;
}
