/* daemon.c: the orchestrator: the one place that sequences the spool's work.
 *
 *   pdfspoold.c   options, signals, sd_notify; calls daemon_*
 *     daemon.c    owns the spool, the pool, each queue's intake; sequences
 *       intake.c    is a drop complete? (watch.c under it) -> drop_ready / manifest_ready
 *       claim.c     take it into a claim; unpack an archive (child) -> unpacked
 *       register.c  claim -> batch record (child) -> registered / needs_unpack
 *       pool.c      workers: hand out jobs, time out, reap (scheduler.c picks)
 *                   -> extracted: the job's filters (filters.c, children by hooks.c)
 *                   -> spool_job_finish
 *       slurm.c     the same for queues with executor: slurm: chunks of jobs as
 *                   Slurm jobs (sbatch, scontrol, scancel), reconciled at start
 *       publish.c   when jobs end: summary pages (summary.c), the ZIP (export.c),
 *                   a queue's hooks, each in a child (hooks.c)
 *       metrics.c   the Prometheus file, on a timer
 *         spool.c   the store: records, load, job transitions, finish, projection
 *           status.c, model.c, fsutil.c, names.c, log.c, util.c ...
 *
 * Calls go down only: a module below reports upward through the handlers
 * given here (intake_handlers, register_handlers, claim_unpacked_fn,
 * spool->on_retry, spool->on_job_ended, spool->on_batch_finished), never
 * by calling up. A drop travels: intake says it is
 * ready -> claim_drop -> register_claim -> (child) -> registered ->
 * spool_batch_adopt -> pool_kick -> pool -> spool_job_start/finish.
 *
 * Requests (control.h): a file in <state_dir>/control/ (inotify, a look at
 * start and with every heartbeat) or a share-side "BATCH.cancel" that intake
 * hands up -> run_request -> spool_batch_cancel/retry/set_held/delete, and for
 * running jobs pool_cancel_job -> an outcome file. The heartbeat
 * (<state_dir>/daemon.json) is written here every HEARTBEAT_USEC. */
#include "daemon.h"
#include "claim.h"
#include "control.h"
#include "fsutil.h"
#include "filters.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pool.h"
#include "publish.h"
#include "register.h"
#include "slurm.h"
#include "spool.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#define HEARTBEAT_USEC (2 * USEC_PER_SEC)
#define HEARTBEAT_FILE "daemon.json"
/* Requests and outcomes nobody collected (a client killed while it waited) go after a day. */
#define CONTROL_KEEP_USEC (24 * 3600 * USEC_PER_SEC)

struct daemon {
        sd_event *event;
        struct spool *spool;
        struct pool *pool;
        struct slurm *slurm;           /* NULL while no queue has executor: slurm */
        char *worker_path;
        struct config **old_configs;   /* replaced by reloads, still used by a retired queue */
        size_t n_old_configs;
        sd_event_source *collect_timer; /* frees retired queues once their batches are done */
        void (*stop_done)(void *userdata);
        void *stop_userdata;
        uint64_t last_pages, last_tick;
        struct metrics *metrics;       /* NULL without metrics_file */
        sd_event_source *metrics_timer;
        int metrics_error;             /* the last write's, said once until it changes */
        struct publisher *publisher;   /* summary pages, ZIPs, hooks */
        char *queues_written;           /* what intake_write_queues wrote last */
        sd_event_source *heartbeat_timer;
        sd_event_source *retention_timer; /* removes finished batches older than keep_finished */
        sd_event_source *control_watch;
        int control_fd;                 /* <state_dir>/control, -1 when it could not be made */
        uint64_t started;               /* realtime usec */
        unsigned beats;
        /* Deleted batches' files are removed by one child at a time. */
        pid_t purge_pid;
        sd_event_source *purge_child;
        bool purge_again;
};

/* How often the metrics file is rewritten. */
#define METRICS_INTERVAL_USEC (5 * USEC_PER_SEC)

/* ---- a drop on its way: intake -> claim -> register -> spool -> pool ---- */

/* Hand queued jobs to the executors: the local pool and Slurm. */
static void kick(struct daemon *d) {
        pool_kick(d->pool);
        slurm_kick(d->slurm);
}

static void on_extracted(struct job *j, unsigned pages, void *userdata);

/* The Slurm executor, once a queue wants it (at start, or with a reload):
 * it reconciles with what a previous run left in Slurm before anything starts. */
static void slurm_start(struct daemon *d) {
        const struct config *c = d->spool->config;
        bool wanted = false;

        for (size_t i = 0; i < c->n_queues; i++)
                wanted = wanted || c->queues[i].executor == EXECUTOR_SLURM;
        if (wanted && !d->slurm && slurm_new(d->spool, d->worker_path, &d->slurm) < 0)
                log_error("the Slurm executor cannot start: jobs of executor: slurm queues wait");
        else if (d->slurm)
                slurm_set_extracted_handler(d->slurm, on_extracted, d);
}

static void on_registered(struct queue *q, const char *claim, void *userdata);
static void on_needs_unpack(struct queue *q, const char *claim, const char *drop, void *userdata);

static const struct register_handlers register_handlers = {
        .registered = on_registered,
        .needs_unpack = on_needs_unpack,
};

static void take_claim(struct daemon *d, struct queue *q, const char *claim) {
        (void) register_claim(q, claim, &register_handlers, d);
}

/* Why Q takes no new drop now, or NULL: max_batches unfinished batches, or
 * less than min_free bytes free where a batch's copies and outputs go (the
 * reserve is for the batches already taken). A look that fails is no answer:
 * drops wait, and the reason says so. */
static char *drops_wait_reason(struct queue *q) {
        const struct config *c = q->spool->config;
        size_t n = 0;

        for (const struct batch *b = q->batches; b; b = b->next)
                n++;
        n += register_queue_busy(q) || claim_queue_unpacking(q); /* one on its way, at least */
        if (q->cfg->max_batches && n >= q->cfg->max_batches)
                return xasprintf("the queue has %zu unfinished batches (max_batches is %u)", n, q->cfg->max_batches);
        if (!c->min_free)
                return NULL;
        const char *where[] = { c->state_dir, q->cfg->outbox };
        int fds[] = { AT_FDCWD, q->outbox_fd };
        for (size_t i = 0; i < ELEMENTSOF(where); i++) {
                uint64_t avail;
                char have[32], want[32];
                int r = fs_free_bytes(fds[i], fds[i] == AT_FDCWD ? where[i] : ".", &avail);
                if (r < 0)
                        return xasprintf("cannot look at the free space of %s: %s", where[i], strerror(-r));
                if (avail < c->min_free)
                        return xasprintf("only %s free on the file system of %s, less than min_free (%s)",
                                         format_size(have, sizeof(have), avail), where[i],
                                         format_size(want, sizeof(want), c->min_free));
        }
        return NULL;
}

/* Drops wait in the inbox while there is a reason (intake looks at them again
 * and pending says why): said when it starts, and when it is over, when the
 * inbox is looked at again at once. NAME: the drop that found it, or NULL. */
static bool drops_wait(struct queue *q, const char *name) {
        char *why = drops_wait_reason(q);
        struct log_ctx ctx = { .queue = q->name };

        if (!why) {
                if (q->drops_wait) {
                        log_full(LOG_NOTICE, &ctx, 0, NULL, "new drops are taken again (%s no more)", q->drops_wait);
                        free(q->drops_wait);
                        q->drops_wait = NULL;
                        if (q->intake && !name)
                                intake_rescan(q, NULL);
                }
                return false;
        }
        if (!q->drops_wait)
                log_full(LOG_NOTICE, &ctx, 0, NULL, "%s: %s%s drops wait in the inbox", why, name ? name : "new",
                         name ? " and later" : "");
        free(q->drops_wait);
        q->drops_wait = why;
        return true;
}

static int on_drop_ready(struct queue *q, const char *name, void *userdata) {
        char *claim = NULL;

        if (drops_wait(q, name))
                return -EAGAIN;
        int r = claim_drop(q, name, &claim);

        if (claim)
                take_claim(userdata, q, claim);
        free(claim);
        return r;
}

static int on_manifest_ready(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                             size_t n_missing, void *userdata) {
        char *claim = NULL;
        int r = claim_manifest(q, name, m, missing, n_missing, &claim);

        if (claim)
                take_claim(userdata, q, claim);
        free(claim);
        return r;
}

static int on_control_file(struct queue *q, const char *name, const char *batch, const char *action,
                           char **ret_reason, void *userdata);

static const struct intake_handlers intake_handlers = {
        .drop_ready = on_drop_ready,
        .manifest_ready = on_manifest_ready,
        .control_ready = on_control_file,
};

static void on_unpacked(struct queue *q, const char *claim, void *userdata) {
        take_claim(userdata, q, claim);
}

static void on_needs_unpack(struct queue *q, const char *claim, const char *drop, void *userdata) {
        (void) claim_unpack_start(q, claim, drop, on_unpacked, userdata);
}

static void on_adopted(struct queue *q, void *userdata) {
        kick(userdata);
}

static void on_registered(struct queue *q, const char *claim, void *userdata) {
        (void) spool_batch_adopt(q, claim, on_adopted, userdata);
}

/* ---- after a job or a batch ended: metrics, then what is published (publish.c) ---- */

/* A batch past its queue's max_pages (pages are known only once its PDFs are
 * read: the limit cannot reject a drop before) is held before more of its jobs
 * start: nothing is lost, and a person decides (release: go on; cancel, delete). */
static void check_max_pages(struct batch *b) {
        const struct queue_config *qc = b->queue->cfg;

        if (!qc->max_pages || b->pages_done <= qc->max_pages || b->pages_allowed || b->held || b->canceled ||
            b->counts[JOB_QUEUED] == 0)
                return;
        char *why = xasprintf("%" PRIu64 " pages done, more than this queue's max_pages (%" PRIu64 "); %zu jobs not "
                              "started: pdfspoolctl release %s goes on, cancel or delete ends it",
                              b->pages_done, qc->max_pages, b->counts[JOB_QUEUED], b->id);
        int r = spool_batch_set_held(b, true, why);
        log_full(r < 0 ? LOG_ERR : LOG_WARNING, &(struct log_ctx) { .queue = b->queue->name, .batch = b->id }, -r,
                 NULL, r < 0 ? "cannot hold the batch (%s): %s" : "batch held: %s", why, r < 0 ? strerror(-r) : "");
        free(why);
}

static void on_job_ended(struct job *j, void *userdata) {
        struct daemon *d = userdata;

        metrics_job_ended(d->metrics, j);
        publish_job_ended(d->publisher, j);
        check_max_pages(j->batch);
}

/* ---- a job's filters, between its worker and its end ---- */

static void on_filters_done(struct job *j, enum job_state state, unsigned pages, const char *error, void *userdata) {
        if (state == JOB_QUEUED)
                (void) spool_job_requeue(j); /* the daemon stops: the job runs again at the next start */
        else
                (void) spool_job_finish(j, state, pages, error);
}

static void on_extracted(struct job *j, unsigned pages, void *userdata) {
        struct daemon *d = userdata;
        uint64_t timeout = j->batch->job_timeout_usec ? j->batch->job_timeout_usec : d->spool->config->job_timeout_usec;
        uint64_t now = now_usec(CLOCK_REALTIME), ran = j->started && now > j->started ? now - j->started : 0;

        /* Stopping: its filters would be killed at once; the job runs again at the next start. */
        if (d->spool->stopping && filters_matching(j) > 0) {
                (void) spool_job_requeue(j);
                return;
        }
        /* The job's timeout counts from its start: the worker's time is spent. */
        int r = filters_start(d->event, j, pages, timeout > ran ? timeout - ran : 1, on_filters_done, d);

        if (r == 1)
                (void) spool_job_finish(j, JOB_DONE, pages, NULL);
        else if (r < 0 && errno_is_transient(r))
                spool_job_defer(j, "cannot start the job's filters", r);
        else if (r < 0) {
                char *reason = xasprintf("cannot start the job's filters: %s", strerror(-r));
                (void) spool_job_finish(j, JOB_FAILED, 0, reason);
                free(reason);
        }
}

static void on_batch_finished(struct batch *b, void *userdata) {
        struct daemon *d = userdata;

        publish_batch_finished(d->publisher, b);
}

static int on_metrics_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        const char *path = d->spool->config->metrics_file;
        int r = path ? metrics_write(d->metrics, d->spool, path) : 0;

        if (r < 0 && r != d->metrics_error)
                log_warning("cannot write the metrics file %s: %s", path, strerror(-r));
        else if (r == 0 && d->metrics_error < 0)
                log_notice("metrics file %s written again", path);
        d->metrics_error = r;
        (void) sd_event_source_set_time_relative(src, METRICS_INTERVAL_USEC);
        return 0;
}

/* ---- recovery ---- */

/* Every claim of Q that is not in memory yet: resume its batch, or finish its
 * claim and register it. Idempotent: at start, and again whenever a deferral
 * is over, so that a claim whose registration failed is retried. */
static int recover_queue(struct daemon *d, struct queue *q) {
        char **names = NULL;
        size_t n = 0;
        int r = spool_claims(q, &names, &n);

        if (r < 0) {
                if (r != -ENOENT)
                        (void) spool_defer(q, "cannot read the queue's claims", r);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                const char *claim = names[i];
                if (spool_batch_loaded(q, claim) || claim_unpacking(q, claim) || register_busy(q, claim))
                        ;
                else {
                        int k = spool_claim_registered(q, claim);
                        if (k == 0 && claim_recover(q, claim) == 0)
                                take_claim(d, q, claim);
                        else if (k > 0)
                                (void) spool_batch_resume(q, claim);
                        else if (k < 0)
                                (void) spool_defer(q, "cannot look at a claim's batch record", -k);
                }
                free(names[i]);
                notify_progress();
        }
        free(names);
        return 0;
}

/* A queue's deferral is over: finish what waits in its batches, pick up claims
 * that wait, look at the inbox again (a drop whose claim failed), hand out jobs. */
static void on_queue_retry(struct queue *q, void *userdata) {
        struct daemon *d = userdata;

        spool_queue_refresh(q);
        (void) recover_queue(d, q);
        if (q->intake)
                intake_rescan(q, NULL);
        kick(d);
}


/* ---- requests: cancel, retry, hold, release, delete ---- */

/* An outcome: CONTROL_OK / CONTROL_REFUSED and a sentence for the person who asked. */
struct outcome {
        int code;
        char *message;
};

static int refuse(struct outcome *o, char *message) {
        o->code = CONTROL_REFUSED;
        o->message = message;
        return 0;
}

/* The active batch of RQ, or why there is none (finished, absent, could not look). */
static struct batch *request_batch(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        struct batch *b = spool_batch_find(d->spool, rq->queue, rq->batch);
        struct queue *q;
        char *claim = NULL;

        if (b)
                return b;
        int r = spool_finished_find(d->spool, rq->queue, rq->batch, &q, &claim);
        if (r == 0)
                refuse(o, xasprintf("batch %s has finished: nothing to %s", rq->batch, rq->action));
        else if (r == -ENOENT)
                refuse(o, xasprintf("no batch %s%s%s", rq->batch, rq->queue ? " in queue " : "",
                                    rq->queue ? rq->queue : ""));
        else
                refuse(o, xasprintf("cannot look for batch %s: %s", rq->batch, strerror(-r)));
        free(claim);
        return NULL;
}

/* Cancel what RQ names in B; *RET_PENDING: running jobs whose worker is not
 * gone yet (they end canceled when it is). B stays open. */
static int cancel_in(struct daemon *d, struct batch *b, const struct control_request *rq, struct outcome *o,
                     size_t *ret_pending) {
        struct spool_cancel c = {};
        int r = spool_batch_cancel(b, rq->jobs, rq->n_jobs, &c);
        size_t stopped = 0, pending = 0;

        if (r == -ENOENT && c.unknown)
                return refuse(o, xasprintf("no job %s in batch %s", c.unknown, b->id));
        for (size_t i = 0; i < c.n_running; i++) {
                struct job *j = c.running[i];
                int k = j->batch->queue->cfg->executor == EXECUTOR_SLURM ? slurm_cancel_job(d->slurm, j)
                                                                        : pool_cancel_job(d->pool, j);
                if (k == -ENOENT)
                        k = filters_cancel(j);
                stopped += k == 0;
                pending += k == 1;
        }
        free(c.running);
        *ret_pending = pending;
        if (r < 0)
                return refuse(o, xasprintf("batch %s: %zu queued job%s canceled, then: %s; try again", b->id,
                                           c.canceled, c.canceled == 1 ? "" : "s", strerror(-r)));
        o->message = xasprintf("batch %s: %zu queued job%s canceled, %zu running job%s stopped", b->id, c.canceled,
                               c.canceled == 1 ? "" : "s", stopped + pending, stopped + pending == 1 ? "" : "s");
        return 0;
}

static void do_cancel(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        struct batch *b = request_batch(d, rq, o);
        size_t pending = 0;

        if (!b)
                return;
        if (b->counts[JOB_QUEUED] + b->counts[JOB_PROCESSING] == 0) {
                refuse(o, xasprintf("batch %s has no queued or running job: nothing to cancel", b->id));
                return;
        }
        (void) cancel_in(d, b, rq, o, &pending);
        spool_batch_done_with(b); /* may free B */
}

static void do_retry(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        struct batch *b = spool_batch_find(d->spool, rq->queue, rq->batch);
        struct queue *q;
        char *claim = NULL;
        size_t n = 0, unretryable = 0;
        const char *unknown = NULL;
        int r;

        if (!b) {
                /* A finished batch comes back among the active ones. */
                r = spool_finished_find(d->spool, rq->queue, rq->batch, &q, &claim);
                if (r == 0)
                        r = spool_batch_reopen(q, claim, &b);
                free(claim);
                if (r == -ENOENT && !b) {
                        refuse(o, xasprintf("no batch %s", rq->batch));
                        return;
                }
                if (r < 0) {
                        refuse(o, xasprintf("cannot reopen batch %s: %s", rq->batch, strerror(-r)));
                        return;
                }
        }
        r = spool_batch_retry(b, rq->jobs, rq->n_jobs, &n, &unretryable, &unknown);
        if (r == -ENOENT && unknown)
                refuse(o, xasprintf("no job %s in batch %s", unknown, b->id));
        else if (r < 0)
                refuse(o, xasprintf("batch %s: cannot put jobs back to queued: %s", b->id, strerror(-r)));
        else
                o->message = xasprintf("batch %s: %zu job%s back to queued%s%s", b->id, n, n == 1 ? "" : "s",
                                       unretryable ? "; jobs that failed before they started (a missing file) "
                                                     "cannot be retried: " : "",
                                       unretryable ? "left failed" : "");
        spool_batch_done_with(b);
        kick(d);
}

static void do_hold(struct daemon *d, const struct control_request *rq, bool hold, struct outcome *o) {
        struct batch *b = request_batch(d, rq, o);
        if (!b)
                return;
        int r = spool_batch_set_held(b, hold, NULL);
        if (r < 0)
                refuse(o, xasprintf("batch %s: cannot record the %s: %s", b->id, rq->action, strerror(-r)));
        else
                o->message = xasprintf(hold ? "batch %s held: no new jobs start; running ones finish"
                                            : "batch %s released", b->id);
        if (!hold)
                kick(d);
}

static void do_priority(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        struct batch *b = request_batch(d, rq, o);
        if (!b)
                return;
        int r = spool_batch_set_priority(b, rq->priority);
        if (r < 0)
                refuse(o, xasprintf("batch %s: cannot record the priority: %s", b->id, strerror(-r)));
        else
                o->message = xasprintf("batch %s: priority %d", b->id, b->priority);
        kick(d);
}

/* ---- removing deleted batches' files: a child, so that a batch of 100,000
 * files never holds the loop ---- */

static int purge_everywhere(struct daemon *d) {
        int r = 0;
        for (struct queue *q = d->spool->queues; q; q = q->next) {
                int k = spool_purge_deleted(q, false);
                if (k < 0)
                        r = k;
        }
        return r;
}

static void purge_start(struct daemon *d);

static int on_purge_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct daemon *d = userdata;

        d->purge_child = sd_event_source_disable_unref(d->purge_child);
        d->purge_pid = 0;
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("cannot remove all files of deleted batches (%s); tried again at the next start",
                            si->si_code == CLD_EXITED ? strerror(si->si_status) : "the child was killed");
        if (d->purge_again)
                purge_start(d);
        return 0;
}

static void purge_start(struct daemon *d) {
        if (d->purge_pid > 0) {
                d->purge_again = true; /* after this one: it may have listed deleted/ already */
                return;
        }
        d->purge_again = false;
        pid_t pid = fork_bound();
        if (pid == 0) {
                int r = purge_everywhere(d);
                _exit(r < 0 ? -r : 0);
        }
        if (pid > 0 && sd_event_add_child(d->event, &d->purge_child, pid, WEXITED, on_purge_exit, d) >= 0) {
                d->purge_pid = pid;
                return;
        }
        if (pid > 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
        }
        (void) purge_everywhere(d); /* no child to be had: here, then */
}

static void do_delete(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        struct batch *b = spool_batch_find(d->spool, rq->queue, rq->batch);
        struct queue *q = NULL;
        char *claim = NULL;
        int r;

        if (b) {
                q = b->queue;
                size_t open = b->counts[JOB_QUEUED] + b->counts[JOB_PROCESSING];
                if (open > 0 && !rq->force) {
                        refuse(o, xasprintf("batch %s is %s (%zu job%s not ended): cancel it first, or use --force",
                                            b->id, batch_state_to_string(batch_state(b)), open, open == 1 ? "" : "s"));
                        return;
                }
                if (open > 0) {
                        struct control_request all = *rq;
                        size_t pending = 0;
                        all.n_jobs = 0;
                        (void) cancel_in(d, b, &all, o, &pending);
                        if (o->code == CONTROL_OK) {
                                free(o->message); /* the delete's answer follows */
                                o->message = NULL;
                        }
                        if (o->code != CONTROL_OK || pending > 0 ||
                            b->counts[JOB_QUEUED] + b->counts[JOB_PROCESSING] > 0) {
                                if (o->code == CONTROL_OK)
                                        refuse(o, xasprintf("batch %s: canceled, but its jobs are still stopping; "
                                                            "delete it again in a moment", b->id));
                                spool_batch_done_with(b);
                                return;
                        }
                }
                r = spool_batch_delete(q, b, NULL, rq->batch); /* frees B */
                if (r < 0)
                        spool_batch_done_with(b); /* still there: it may finish */
        } else {
                r = spool_finished_find(d->spool, rq->queue, rq->batch, &q, &claim);
                if (r == -ENOENT) {
                        refuse(o, xasprintf("no batch %s", rq->batch));
                        return;
                }
                if (r == 0)
                        r = spool_batch_delete(q, NULL, claim, rq->batch);
                free(claim);
        }
        if (r < 0) {
                refuse(o, xasprintf("batch %s: cannot delete it: %s", rq->batch, strerror(-r)));
                return;
        }
        o->message = xasprintf("batch %s deleted: its outbox folder and its state are gone (their disk is freed "
                               "in the background)", rq->batch);
        purge_start(d);
}

static void run_request(struct daemon *d, const struct control_request *rq, struct outcome *o) {
        *o = (struct outcome) { .code = CONTROL_OK };
        if (strcmp(rq->action, "cancel") == 0)
                do_cancel(d, rq, o);
        else if (strcmp(rq->action, "retry") == 0)
                do_retry(d, rq, o);
        else if (strcmp(rq->action, "hold") == 0 || strcmp(rq->action, "release") == 0)
                do_hold(d, rq, strcmp(rq->action, "hold") == 0, o);
        else if (strcmp(rq->action, "priority") == 0)
                do_priority(d, rq, o);
        else if (strcmp(rq->action, "delete") == 0)
                do_delete(d, rq, o);
        else
                refuse(o, xasprintf("unknown request \"%s\"", rq->action));
        log_full(o->code == CONTROL_OK ? LOG_NOTICE : LOG_WARNING,
                 &(struct log_ctx) { .queue = rq->queue, .batch = rq->batch }, 0, NULL, "request %s %s: %s",
                 rq->action, rq->batch, o->message);
}

static int on_control_file(struct queue *q, const char *name, const char *batch, const char *action,
                           char **ret_reason, void *userdata) {
        struct daemon *d = userdata;
        struct control_request rq = { .action = (char *) action, .batch = (char *) batch, .queue = q->name };
        struct outcome o;

        if (d->spool->stopping)
                return -EAGAIN;
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name, .batch = batch }, 0, NULL,
                 "request from the inbox: %s", name);
        run_request(d, &rq, &o);
        if (o.code == CONTROL_OK) {
                free(o.message);
                return 0;
        }
        *ret_reason = o.message;
        return 1;
}

/* One request file of the control directory, unless it has its outcome already. */
static void control_take(struct daemon *d, const char *name) {
        struct control_request *rq = NULL;
        struct outcome o;
        char *id;

        if (d->control_fd < 0 || d->spool->stopping || !control_is_request(name, &id))
                return;
        int r = control_outcome_exists(d->control_fd, id);
        if (r == 0) {
                r = control_request_read(d->control_fd, id, &rq);
                if (r == 0)
                        run_request(d, rq, &o);
                else if (r == -EBADMSG)
                        o = (struct outcome) { CONTROL_REFUSED, xstrdup("the request file cannot be read as a request") };
                if (r == 0 || r == -EBADMSG) {
                        r = control_outcome_write(d->control_fd, id, o.code, o.message);
                        if (r < 0)
                                log_warning("cannot write the outcome of request %s: %s", id, strerror(-r));
                        free(o.message);
                }
        }
        control_request_free(rq);
        free(id);
}

static void control_scan(struct daemon *d) {
        DIR *dir;
        struct dirent *de;

        if (d->control_fd < 0)
                return;
        int fd = openat(d->control_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dir = fd < 0 ? NULL : fdopendir(fd);
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((de = readdir(dir)))
                control_take(d, de->d_name);
        closedir(dir);
}

static int on_control_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct daemon *d = userdata;

        if (ev->mask & IN_Q_OVERFLOW)
                control_scan(d);
        else if (ev->len > 0)
                control_take(d, ev->name);
        return 0;
}

static void control_start(struct daemon *d) {
        const char *state_dir = d->spool->config->state_dir;
        char *path = control_dir_path(state_dir);
        int r = control_dir_setup(state_dir);

        if (r == 0) {
                d->control_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = d->control_fd < 0 ? -errno : 0;
        }
        if (r == 0)
                r = sd_event_add_inotify(d->event, &d->control_watch, path, IN_MOVED_TO | IN_CLOSE_WRITE,
                                         on_control_event, d);
        if (r < 0)
                log_warning("cannot watch the control directory %s: %s; requests are looked for every %" PRIu64
                            " s", path, strerror(-r), HEARTBEAT_USEC / USEC_PER_SEC);
        free(path);
        control_scan(d);
}

/* ---- heartbeat: <state_dir>/daemon.json ---- */

/* STOPPED: the last one, after a clean stop. RECOVERING: before recovery,
 * which may hold the loop for long: readers do not take the silence that
 * follows for a stop. */
static void write_heartbeat(struct daemon *d, bool stopped, bool recovering) {
        char host[256] = "", boot[SD_ID128_STRING_MAX] = "", started[40], now[40];
        sd_id128_t id;
        uint64_t t = now_usec(CLOCK_REALTIME);

        (void) gethostname(host, sizeof(host) - 1);
        if (sd_id128_get_boot(&id) >= 0)
                sd_id128_to_string(id, boot);
        json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:f}", "pid", (json_int_t) getpid(), "boot_id", boot, "host",
                              host, "started", format_rfc3339(started, sizeof(started), d->started), "heartbeat",
                              format_rfc3339(now, sizeof(now), t), "interval_seconds",
                              (double) HEARTBEAT_USEC / USEC_PER_SEC);
        if (stopped)
                json_object_set_new(j, "stopped", json_string(now));
        if (recovering)
                json_object_set_new(j, "recovering", json_true());
        int fd = open(d->spool->config->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? -errno : fs_write_json(fd, HEARTBEAT_FILE, j, 0644, (gid_t) -1, 0);
        if (fd >= 0)
                close(fd);
        json_decref(j);
        if (r < 0)
                log_full(LOG_WARNING, NULL, -r, NULL, "cannot write the heartbeat %s/" HEARTBEAT_FILE ": %s",
                         d->spool->config->state_dir, strerror(-r));
}

static int on_heartbeat(sd_event_source *src, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;

        write_heartbeat(d, false, false);
        /* Another host's request raises no inotify event on a shared state_dir. */
        control_scan(d);
        if (d->control_fd >= 0 && ++d->beats % 300 == 0)
                control_sweep(d->control_fd, CONTROL_KEEP_USEC);
        (void) sd_event_source_set_time_relative(src, HEARTBEAT_USEC);
        return 0;
}

/* ---- life cycle ---- */

int daemon_new(struct config *config, sd_event *event, const char *worker_path, struct daemon **ret) {
        struct daemon *d = xcalloc(1, sizeof(*d));
        int r = spool_new(config, event, &d->spool);

        if (r < 0) {
                free(d);
                config_free(config);
                return r;
        }
        d->event = sd_event_ref(event);
        d->control_fd = -1;
        d->started = now_usec(CLOCK_REALTIME);
        d->worker_path = xstrdup(worker_path);
        d->spool->on_retry = on_queue_retry;
        d->spool->on_retry_userdata = d;
        d->spool->on_job_ended = on_job_ended;
        d->spool->on_batch_finished = on_batch_finished;
        d->spool->on_ended_userdata = d;
        d->metrics = metrics_new();
        d->publisher = publish_new(event);
        for (size_t i = 0; i < config->n_queues; i++)
                if (!spool_queue_new(d->spool, &config->queues[i])) {
                        daemon_free(d);
                        return -EIO;
                }
        *ret = d;
        return 0;
}

/* Retention: finished batches older than their queue's keep_finished go, as
 * a delete would take them (never one that is processing or held: those are
 * not finished). At start, then every RETENTION_USEC. */
#define RETENTION_USEC (10 * 60 * USEC_PER_SEC)

static int on_retention(sd_event_source *src, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        uint64_t now = now_usec(CLOCK_REALTIME);
        size_t removed = 0;

        for (struct queue *q = d->spool->queues; q; q = q->next) {
                if (!q->cfg->keep_finished_usec || q->spool->stopping)
                        continue;
                char **claims = NULL, **ids = NULL;
                size_t n = 0;
                int r = spool_finished_before(q, now > q->cfg->keep_finished_usec ? now - q->cfg->keep_finished_usec : 0,
                                              &claims, &ids, &n);
                if (r < 0)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                 "retention: cannot list the finished batches: %s; none removed", strerror(-r));
                for (size_t i = 0; i < n; i++) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name, .batch = ids[i] }, 0, NULL,
                                 "retention: batch finished more than %.0f s ago (keep_finished): removed",
                                 (double) q->cfg->keep_finished_usec / USEC_PER_SEC);
                        if (spool_batch_delete(q, NULL, claims[i], ids[i]) == 0)
                                removed++;
                        free(claims[i]);
                        free(ids[i]);
                }
                free(claims);
                free(ids);
        }
        if (removed > 0)
                purge_start(d);
        if (src) {
                (void) sd_event_source_set_time_relative(src, RETENTION_USEC);
                (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        }
        return 0;
}

int daemon_start(struct daemon *d) {
        struct spool *s = d->spool;
        int r;

        /* The temps of the daemon's own records a kill interrupted (daemon.json):
         * state_dir's top holds nothing else of anyone's. */
        fs_remove_temps(AT_FDCWD, s->config->state_dir, false);
        write_heartbeat(d, false, true);
        /* What a previous run left, before any worker or new drop: claims finished
         * or undone and registered, batches loaded, finished batches' status checked. */
        for (struct queue *q = s->queues; q; q = q->next) {
                (void) spool_purge_deleted(q, true);
                (void) recover_queue(d, q);
                (void) spool_check_finished(q);
        }
        slurm_start(d); /* adopts the Slurm jobs of the jobs just loaded, before any runs */
        r = pool_new(s, d->worker_path, &d->pool);
        if (r < 0)
                return r;
        pool_set_extracted_handler(d->pool, on_extracted, d);
        for (struct queue *q = s->queues; q; q = q->next)
                (void) intake_start(q, &intake_handlers, d);
        write_heartbeat(d, false, false);
        r = sd_event_add_time_relative(d->event, &d->heartbeat_timer, CLOCK_MONOTONIC, HEARTBEAT_USEC,
                                       USEC_PER_SEC / 10, on_heartbeat, d);
        if (r >= 0)
                (void) sd_event_source_set_enabled(d->heartbeat_timer, SD_EVENT_ON);
        control_start(d);
        (void) on_retention(NULL, 0, d);
        if (sd_event_add_time_relative(d->event, &d->retention_timer, CLOCK_MONOTONIC, RETENTION_USEC, USEC_PER_SEC,
                                       on_retention, d) < 0)
                log_warning("cannot arm the retention timer: finished batches are removed at the next start only");
        kick(d);
        /* Always armed: metrics_file may come with a reload. */
        (void) sd_event_add_time_relative(d->event, &d->metrics_timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 2,
                                          on_metrics_timer, d);
        (void) sd_event_source_set_enabled(d->metrics_timer, SD_EVENT_ON);
        return 0;
}

const struct config *daemon_config(const struct daemon *d) {
        return d->spool->config;
}

static void on_published(void *userdata) {
        struct daemon *d = userdata;

        if (d->stop_done)
                d->stop_done(d->stop_userdata);
}

/* The jobs have ended: then what they made due (final summary pages, ZIPs,
 * hooks) gets the same grace. */
static void on_pool_stopped(struct pool *p, void *userdata) {
        struct daemon *d = userdata;

        publish_drain(d->publisher, d->spool->config->stop_grace_usec, on_published, d);
}

void daemon_stop(struct daemon *d, void (*done)(void *userdata), void *userdata) {
        struct spool *s = d->spool;

        if (s->stopping)
                return;
        s->stopping = true;
        d->stop_done = done;
        d->stop_userdata = userdata;
        for (struct queue *q = s->queues; q; q = q->next)
                intake_stop(q);
        filters_stop_all();
        slurm_stop(d->slurm); /* its Slurm jobs go on: adopted at the next start */
        if (d->pool)
                pool_stop(d->pool, s->config->stop_grace_usec, on_pool_stopped, d);
        else if (done)
                done(userdata);
}

static bool config_in_use(const struct daemon *d, const struct config *c) {
        if (d->spool->config == c)
                return true;
        for (const struct queue *q = d->spool->queues; q; q = q->next)
                if (q->cfg >= c->queues && q->cfg < c->queues + c->n_queues)
                        return true;
        return false;
}

/* Retired queues whose last batch is done go, and so do configurations no
 * queue uses any more. Runs every second while something is retired. */
static int on_collect(sd_event_source *src, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        bool waiting = false;

        for (struct queue *q = d->spool->queues, *next; q; q = next) {
                next = q->next;
                if (!q->removed)
                        continue;
                if (q->batches || q->intake || register_queue_busy(q) || claim_queue_unpacking(q)) {
                        waiting = true;
                        continue;
                }
                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                         "retired queue freed: its last batch is done");
                spool_queue_remove(q);
        }
        for (size_t i = 0; i < d->n_old_configs;) {
                if (config_in_use(d, d->old_configs[i])) {
                        i++;
                        continue;
                }
                config_free(d->old_configs[i]);
                d->old_configs[i] = d->old_configs[--d->n_old_configs];
        }
        waiting = waiting || d->n_old_configs > 0;
        if (waiting)
                (void) sd_event_source_set_time_relative(src, USEC_PER_SEC);
        (void) sd_event_source_set_enabled(src, waiting ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
        return 0;
}

static bool queue_config_equal(const struct queue_config *a, const struct queue_config *b) {
        if (strcmp(a->inbox, b->inbox) || strcmp(a->outbox, b->outbox) || a->watch != b->watch ||
            a->poll_interval_usec != b->poll_interval_usec ||
            /* the watch says what settle is on a network mount */
            a->settle_usec != b->settle_usec || a->settle_set != b->settle_set)
                return false;
        return true;
}

int daemon_reload(struct daemon *d, struct config *nc, char **ret_error) {
        struct spool *s = d->spool;

        if (strcmp(nc->state_dir, s->config->state_dir) != 0) {
                /* Batches live in the state directory: moving it under them would strand them. */
                *ret_error = xasprintf("%s: state_dir cannot change on reload (%s -> %s); restart the service",
                                       nc->path ? nc->path : "the configuration", s->config->state_dir,
                                       nc->state_dir);
                config_free(nc);
                return -EINVAL;
        }
        if (nc->log != s->config->log)
                log_warning("the new log setting takes effect at the next start");

        struct config *old = s->config;
        /* Queues that stay take their new settings. A queue that is gone, or whose
         * outbox moved, is retired: it takes no drops and its running batches
         * finish where they are; a new queue object takes the name and new drops. */
        for (struct queue *q = s->queues; q; q = q->next) {
                if (q->removed)
                        continue;
                const struct queue_config *qc = config_find_queue(nc, q->name);
                if (!qc || strcmp(qc->outbox, q->cfg->outbox) != 0) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "%s: no new drops here; running batches finish",
                                 qc ? "outbox changed" : "queue removed from the configuration");
                        intake_stop(q);
                        q->removed = true;
                        continue;
                }
                bool rewatch = !queue_config_equal(q->cfg, qc);
                if (rewatch)
                        intake_stop(q);
                spool_queue_set_config(q, qc);
                if (rewatch)
                        (void) intake_start(q, &intake_handlers, d); /* says how it watches */
                else {
                        char *sees = intake_describe(q, false);
                        if (sees)
                                log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                         "watching inbox %s (%s)", q->cfg->inbox, sees);
                        free(sees);
                }
        }
        s->config = nc;
        for (size_t i = 0; i < nc->n_queues; i++) {
                bool have = false;
                for (struct queue *q = s->queues; q; q = q->next)
                        have = have || (!q->removed && strcmp(q->name, nc->queues[i].name) == 0);
                if (have)
                        continue;
                struct queue *q = spool_queue_new(s, &nc->queues[i]);
                if (q) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL, "queue added");
                        (void) recover_queue(d, q); /* a queue that comes back finds its claims */
                        (void) intake_start(q, &intake_handlers, d);
                }
        }
        d->old_configs = xrealloc(d->old_configs, (d->n_old_configs + 1) * sizeof(struct config *));
        d->old_configs[d->n_old_configs++] = old;
        if (!d->collect_timer)
                (void) sd_event_add_time_relative(d->event, &d->collect_timer, CLOCK_MONOTONIC, 0,
                                                  USEC_PER_SEC / 10, on_collect, d);
        if (d->collect_timer) {
                (void) sd_event_source_set_time_relative(d->collect_timer, 0);
                (void) sd_event_source_set_enabled(d->collect_timer, SD_EVENT_ONESHOT);
        }
        if (d->pool)
                pool_resize(d->pool, nc->workers);
        slurm_start(d);
        kick(d);
        return 0;
}

void daemon_free(struct daemon *d) {
        if (!d)
                return;
        if (d->spool)
                spool_flush_status(d->spool);
        if (d->heartbeat_timer)
                write_heartbeat(d, true, false); /* "stopped": tools say so at once */
        sd_event_source_disable_unref(d->heartbeat_timer);
        sd_event_source_disable_unref(d->retention_timer);
        sd_event_source_disable_unref(d->control_watch);
        sd_event_source_disable_unref(d->purge_child); /* the child ends with us (PDEATHSIG); the next start finishes */
        if (d->control_fd >= 0)
                close(d->control_fd);
        pool_free(d->pool);
        slurm_free(d->slurm);
        for (struct queue *q = d->spool ? d->spool->queues : NULL; q; q = q->next)
                intake_stop(q);
        struct config *config = d->spool ? d->spool->config : NULL;
        spool_free(d->spool);
        config_free(config);
        for (size_t i = 0; i < d->n_old_configs; i++)
                config_free(d->old_configs[i]);
        free(d->old_configs);
        sd_event_source_disable_unref(d->collect_timer);
        sd_event_source_disable_unref(d->metrics_timer);
        publish_free(d->publisher);
        metrics_free(d->metrics);
        free(d->worker_path);
        free(d->queues_written);
        sd_event_unref(d->event);
        free(d);
}

void daemon_status_text(struct daemon *d, char *text, size_t size) {
        struct spool *s = d->spool;
        size_t batches = 0, total = 0, ended = 0, failed = 0, pos = 0;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        unsigned busy = d->pool ? pool_busy(d->pool) : 0;

        /* pages/s, smoothed over a few calls */
        if (d->last_tick && now > d->last_tick) {
                double inst = (double) (s->pages_done - d->last_pages) / ((double) (now - d->last_tick) / USEC_PER_SEC);
                s->pages_per_second = 0.6 * s->pages_per_second + 0.4 * inst;
                if (s->pages_per_second < 0.05)
                        s->pages_per_second = 0;
        }
        d->last_tick = now;
        d->last_pages = s->pages_done;

        for (struct queue *q = s->queues; q; q = q->next)
                for (struct batch *b = q->batches; b; b = b->next) {
                        batches++;
                        total += b->n_jobs;
                        ended += b->counts[JOB_DONE] + b->counts[JOB_FAILED] + b->counts[JOB_CANCELED];
                        failed += b->counts[JOB_FAILED];
                }
        /* A reason for drops to wait (min_free) may be over without a drop to find it. */
        for (struct queue *q = s->queues; q; q = q->next)
                if (q->drops_wait)
                        (void) drops_wait(q, NULL);
        text[0] = 0;
#define ADD(...) do { if (pos < size) pos += (size_t) snprintf(text + pos, size - pos, __VA_ARGS__); } while (0)
        if (s->stopping)
                ADD("Stopping: %u job%s still running; ", busy, busy == 1 ? "" : "s");
        if (batches > 0)
                ADD("%zu batch%s, %zu/%zu jobs done, %zu failed, %.1f pages/s", batches, batches == 1 ? "" : "es",
                    ended, total, failed, s->pages_per_second);
        else
                ADD("Idle: %" PRIu64 " jobs done, %" PRIu64 " failed since start", s->jobs_done, s->jobs_failed);
        for (struct queue *q = s->queues; q; q = q->next) {
                const char *hold = q->removed ? NULL : intake_hold_reason(q);
                char *sees = q->removed ? NULL : intake_describe(q, true);
                if (hold)
                        ADD("; queue %s on hold: %s", q->name, hold);
                else if (queue_deferred(q) && q->defer_reason)
                        ADD("; queue %s waits: %s", q->name, q->defer_reason);
                else if (q->drops_wait)
                        ADD("; queue %s: new drops wait: %s", q->name, q->drops_wait);
                else if (q->batches && !config_hours_open(&q->cfg->hours, now_usec(CLOCK_REALTIME), &(uint64_t) { 0 }))
                        ADD("; queue %s waits for its hours (%02u:%02u-%02u:%02u)", q->name, q->cfg->hours.start / 60,
                            q->cfg->hours.start % 60, q->cfg->hours.end / 60, q->cfg->hours.end % 60);
                else if (sees)
                        ADD("; queue %s: %s", q->name, sees);
                free(sees);
        }
#undef ADD
        /* Each second, like STATUS=: what each queue sees, for pdfspoolctl health (written when it changes). */
        (void) intake_write_queues(s, &d->queues_written);
}
