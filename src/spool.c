/* spool.c: the store: batch and job records in the state directory, loading
 * them, job transitions, finishing a batch, and the outbox projection. It calls
 * nothing above it: the orchestrator (daemon.c) sequences claims, registration
 * and the pool around it. See spool.h for the layout. */
#include "spool.h"
#include "fsutil.h"
#include "log.h"
#include "names.h"
#include "notify.h"
#include "status.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INTERRUPTED_ATTEMPTS 3
#define CANCELED_REASON "canceled by request"
#define STATUS_DELAY_USEC (250 * USEC_PER_MSEC)

/* ---- paths ---- */

/* Path of the job's PDF in the claim, absolute: only a name to show, never opened. */
static char *job_source_path(const struct job *j) {
        return xasprintf("%s/%s/%s", j->batch->claim_path, j->batch->root, j->source);
}

static int open_claim(const struct batch *b) {
        int fd = open(b->claim_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int spool_job_open_source(const struct job *j, const char **ret_why) {
        char *rel = xasprintf("%s/%s", j->batch->root, j->source);
        int claim = open_claim(j->batch), fd;

        *ret_why = NULL;
        fd = claim < 0 ? claim : fs_open_taken(claim, rel, &j->taken, ret_why);
        if (claim >= 0)
                close(claim);
        free(rel);
        return fd;
}

/* A copy, made by the daemon, of what registration took at REL in the claim
 * (CLAIM, a descriptor of its folder), as DST in the outbox: the outbox never holds
 * a user's own inode, so nothing a user can still reach is linked there or re-moded. */
static int keep_copy(const struct queue *q, int claim, const char *rel, const struct fs_ident *taken,
                     const char *dst, bool sync, const char **ret_why) {
        int fd = fs_open_taken(claim, rel, taken, ret_why);
        int r;

        if (fd < 0)
                return fd;
        r = fs_copy_fd(fd, q->outbox_fd, dst, q->cfg->file_mode, q->gid, sync);
        close(fd);
        return r;
}

/* outbox-relative paths of the job's folder and of its temp folder */
static char *job_dir(const struct job *j) {
        return xasprintf("%s/%s", j->batch->id, j->name);
}

static char *job_tmp_dir(const struct job *j) {
        const char *slash = strrchr(j->name, '/');
        if (!slash)
                return xasprintf("%s/.pdfspool-tmp.%u", j->batch->id, j->index);
        return xasprintf("%s/%.*s/.pdfspool-tmp.%u", j->batch->id, (int) (slash - j->name), j->name, j->index);
}

/* ---- records ---- */

int spool_write_record(const char *dir, const char *name, json_t *j, bool sync_dir) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? -errno : fs_write_json(fd, name, j, 0600, (gid_t) -1, sync_dir ? FS_WRITE_SYNC_DIR : 0);
        if (fd >= 0)
                close(fd);
        json_decref(j);
        return r;
}

static void job_drop_profile(struct job *j) {
        if (j->profile) {
                profile_done(j->profile);
                free(j->profile);
                j->profile = NULL;
        }
}

static int write_job_record(struct job *j) {
        char *dir = xasprintf("%s/jobs", j->batch->claim_path);
        char *name = xasprintf("%u.json", j->index);
        json_t *rec = json_pack("{s:s,s:I,s:o,s:I,s:I,s:I,s:f}",
                                "state", job_state_to_string(j->state),
                                "attempts", (json_int_t) j->attempts,
                                "error", j->error ? json_string(j->error) : json_null(),
                                "pages", (json_int_t) j->pages,
                                "started", (json_int_t) j->started,
                                "finished", (json_int_t) j->finished,
                                "seconds", j->seconds);
        if (j->text_layer)
                json_object_set_new(rec, "text_layer", json_string(j->text_layer));
        if (j->filter)
                json_object_set(rec, "filter", j->filter);
        int r = spool_write_record(dir, name, rec, false);
        free(name);
        free(dir);
        if (r == 0)
                j->has_record = true;
        return r;
}

/* No record: a job that never started (queued; canceled in a canceled batch).
 * Not synced here: the caller syncs jobs/ once for many. */
static int remove_job_record(struct job *j) {
        char *path = xasprintf("%s/jobs/%u.json", j->batch->claim_path, j->index);
        int r = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
        free(path);
        if (r == 0)
                j->has_record = false;
        return r;
}

void spool_batch_free(struct batch *b) {
        if (!b)
                return;
        sd_event_source_disable_unref(b->projection_source);
        for (size_t i = 0; i < b->n_jobs; i++) {
                free(b->jobs[i].source);
                free(b->jobs[i].name);
                free(b->jobs[i].original);
                free(b->jobs[i].error);
                free(b->jobs[i].text_layer);
                json_decref(b->jobs[i].filter);
                strv_free(b->jobs[i].required_outputs);
                job_drop_profile(&b->jobs[i]);
                free(b->jobs[i].runner);
        }
        for (size_t i = 0; i < b->n_skipped; i++) {
                free(b->skipped[i].source);
                free(b->skipped[i].reason);
                free(b->skipped[i].kept_as);
        }
        free(b->jobs);
        free(b->skipped);
        free(b->id);
        free(b->claim);
        free(b->claim_path);
        free(b->drop);
        free(b->root);
        free(b->kept_drop);
        free(b->kept_drop_as);
        json_decref(b->labels);
        free(b->held_why);
        json_decref(b->processing);
        free(b);
}

/* {"dev","ino","size"} of a file taken, or nothing when it is not known. */
static void set_taken(json_t *rec, const char *key, const struct fs_ident *taken) {
        if (taken->known)
                json_object_set_new(rec, key, json_pack("{s:I,s:I,s:I}", "dev", (json_int_t) taken->dev,
                                                        "ino", (json_int_t) taken->ino,
                                                        "size", (json_int_t) taken->size));
}

/* Records written before identities were kept have none: then only "a regular
 * file with one link" is checked at each open. */
static void get_taken(const json_t *rec, const char *key, struct fs_ident *ret) {
        json_t *t = json_object_get(rec, key), *dev = json_object_get(t, "dev"), *ino = json_object_get(t, "ino"),
               *size = json_object_get(t, "size");

        *ret = (struct fs_ident) { .known = false };
        if (json_is_integer(dev) && json_is_integer(ino) && json_is_integer(size))
                *ret = (struct fs_ident) { .dev = (dev_t) json_integer_value(dev),
                                           .ino = (ino_t) json_integer_value(ino),
                                           .size = (off_t) json_integer_value(size), .known = true };
}

static json_t *batch_record(const struct batch *b) {
        json_t *jobs = json_array(), *skipped = json_array(), *errors = json_array(), *error_index = json_object();

        for (size_t i = 0; i < b->n_jobs; i++) {
                json_t *e = json_pack("{s:o,s:o,s:o}", "source", names_to_json_exact(b->jobs[i].source),
                                      "name", names_to_json_exact(b->jobs[i].name),
                                      "original", names_to_json_exact(b->jobs[i].original));
                /* Ended before it started (a manifest's missing file, a checksum
                 * mismatch): recorded here, not in a job record of its own; each
                 * reason once, in "errors" (100,000 missing files share one). */
                if (b->jobs[i].state == JOB_FAILED) {
                        const char *why = b->jobs[i].error ? b->jobs[i].error : "failed";
                        json_t *at = json_object_get(error_index, why);
                        if (!at) {
                                at = json_integer((json_int_t) json_array_size(errors));
                                json_object_set_new(error_index, why, at);
                                json_array_append_new(errors, json_string(why));
                        }
                        json_object_set_new(e, "failed", json_pack("{s:O,s:I}", "e", at, "finished",
                                                                   (json_int_t) b->jobs[i].finished));
                }
                set_taken(e, "taken", &b->jobs[i].taken);
                json_array_append_new(jobs, e);
        }
        for (size_t i = 0; i < b->n_skipped; i++) {
                json_t *e = json_pack("{s:o,s:s,s:o}", "source", names_to_json_exact(b->skipped[i].source),
                                      "reason", b->skipped[i].reason,
                                      "kept_as", b->skipped[i].kept_as ? names_to_json_exact(b->skipped[i].kept_as)
                                                                       : json_null());
                set_taken(e, "taken", &b->skipped[i].taken);
                json_array_append_new(skipped, e);
        }
        json_t *rec = json_pack("{s:i,s:o,s:o,s:o,s:I,s:o,s:o,s:i,s:I}", "version", 1,
                                "id", names_to_json_exact(b->id), "drop", names_to_json_exact(b->drop),
                                "root", names_to_json_exact(b->root), "created", (json_int_t) b->created,
                                "jobs", jobs, "skipped", skipped, "thumbnail_size", (int) b->thumbnail_size,
                                "job_timeout_usec", (json_int_t) b->job_timeout_usec);
        if (b->kept_drop) {
                json_object_set_new(rec, "kept_drop", names_to_json_exact(b->kept_drop));
                json_object_set_new(rec, "kept_drop_as", names_to_json_exact(b->kept_drop_as));
                set_taken(rec, "kept_drop_taken", &b->kept_drop_taken);
        }
        if (b->labels)
                json_object_set(rec, "labels", b->labels);
        if (b->processing)
                json_object_set(rec, "processing", b->processing);
        if (b->priority)
                json_object_set_new(rec, "priority", json_integer(b->priority));
        if (b->not_before)
                json_object_set_new(rec, "not_before_usec", json_integer((json_int_t) b->not_before));
        json_object_set_new(rec, "errors", errors);
        json_decref(error_index);
        return rec;
}

static void spool_schedule_status(struct spool *s);

/* A copy of J's original in its folder DIR (outbox-relative), unless one is
 * there. Only a fault of the spool's resources is an error: a source that
 * changed or went is said, and the job goes on without it. */
static int keep_original(struct job *j, const char *dir) {
        struct queue *q = j->batch->queue;
        char *dst = xasprintf("%s/%s", dir, j->original);
        const char *why = NULL;
        int r = faccessat(q->outbox_fd, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? -EEXIST : -errno;

        if (r == -ENOENT) {
                int fd = spool_job_open_source(j, &why);
                r = fd < 0 ? fd : fs_copy_fd(fd, q->outbox_fd, dst, q->cfg->file_mode, q->gid, true);
                if (fd >= 0)
                        close(fd);
                if (r < 0 && r != -EEXIST)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = j->batch->id, .job = j->name },
                                 -r, NULL, "cannot keep the original of a canceled job: %s", why ? why : strerror(-r));
        }
        free(dst);
        return r == -EEXIST || (r < 0 && !errno_is_transient(r)) ? 0 : r;
}
static void mark_dirty(struct batch *b);

/* Keep a file of the claim (an archive, a manifest, a skipped file) in the
 * batch's outbox folder, as a copy checked against what registration took
 * (keep_copy). 0 when it is there. Not synced when !SYNC: the caller syncs many at once. */
static int keep_in_outbox(struct batch *b, int claim, const char *src_rel, const struct fs_ident *taken,
                          const char *dst_rel, bool sync) {
        struct queue *q = b->queue;
        char *dst = xasprintf("%s/%s", b->id, dst_rel);
        const char *slash = strrchr(dst, '/'), *why = NULL;
        char *parent = xstrndup(dst, (size_t) (slash - dst));
        int r = 0;

        if (faccessat(q->outbox_fd, dst, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                r = errno == ENOENT ? 0 : -errno;
                if (r == 0)
                        r = fs_mkdirat_p_owned(q->outbox_fd, parent, q->cfg->dir_mode, q->gid);
                if (r == 0)
                        r = claim < 0 ? claim : keep_copy(q, claim, src_rel, taken, dst, sync, &why);
                if (r < 0 && r != -EEXIST)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id }, -r, NULL,
                                 "cannot keep %s in the outbox (%s/%s): %s", dst_rel, q->cfg->outbox, dst,
                                 why ? why : strerror(-r));
                if (r == -EEXIST)
                        r = 0;
                else if (r == 0)
                        r = 1; /* copied */
        }
        free(parent);
        free(dst);
        return r;
}

/* The outbox is a projection: (re)write what a reader should see for B.
 * A big batch is written in slices of PROJECTION_SLICE_USEC, one per loop
 * pass, so that 100,000 job folders never hold the loop. What could not be
 * written for a fault of the outbox is written again when the queue's
 * deferral is over (projection_pending). */
#define PROJECTION_SLICE_USEC (50 * USEC_PER_MSEC)

static int on_projection_slice(sd_event_source *src, void *userdata);
static void batch_finish_if_done(struct batch *b);

/* The rest in the next loop pass: true if it is scheduled. */
static bool projection_yield(struct batch *b) {
        struct queue *q = b->queue;
        int r = 0;

        if (!q->spool->event)
                return false;
        if (!b->projection_source) {
                r = sd_event_add_defer(q->spool->event, &b->projection_source, on_projection_slice, b);
                /* sd-event keeps a defer source pending since the pass it was first
                 * enabled in, so one that re-arms itself is always the oldest and
                 * runs before every timer and descriptor: workers' results and status
                 * updates would wait for the whole projection. At idle priority,
                 * whatever else is pending runs between two slices. */
                if (r >= 0)
                        r = sd_event_source_set_priority(b->projection_source, SD_EVENT_PRIORITY_IDLE);
        }
        if (r >= 0)
                r = sd_event_source_set_enabled(b->projection_source, SD_EVENT_ONESHOT);
        return r >= 0;
}

/* Step projection_next walks the kept drop (0), the kept skipped files
 * (1..n_skipped), then each job's status (n_skipped + 1 ...). */
static void write_projection(struct batch *b) {
        struct queue *q = b->queue;
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + PROJECTION_SLICE_USEC;
        size_t first_job = b->n_skipped + 1, started_at = b->projection_next;
        bool copied = false;
        int r = 0, k, claim = -1;

        b->projection_pending = true;
        if (b->projection_next == 0) {
                if (mkdirat(q->outbox_fd, b->id, q->cfg->dir_mode) < 0 && errno != EEXIST)
                        r = -errno;
                /* The batch's own status first: it tells the truth at once (a batch
                 * resumed at start, before READY=1), the jobs' files follow in slices. */
                if (r == 0)
                        r = status_write_batch(b);
                if (r == 0 && b->kept_drop) {
                        claim = open_claim(b);
                        r = keep_in_outbox(b, claim, b->kept_drop, &b->kept_drop_taken, b->kept_drop_as, true);
                        if (r < 0 && !errno_is_transient(r))
                                r = 0; /* not the outbox's fault: said, and left at that */
                        if (r > 0)
                                r = 0;
                }
                if (r == 0)
                        b->projection_next = 1;
        }
        for (; r == 0 && b->projection_next < first_job; b->projection_next++) {
                struct skipped *sk = &b->skipped[b->projection_next - 1];
                if (b->projection_next > started_at && now_usec(CLOCK_MONOTONIC) > deadline && q->spool->event)
                        break;
                if (!sk->kept_as)
                        continue;
                if (claim < 0 && (claim = open_claim(b)) < 0) {
                        r = claim;
                        break;
                }
                char *src = xasprintf("%s/%s", b->root, sk->source);
                /* Synced once a slice: one fsync per file would take minutes on a
                 * drop of many small files. */
                k = keep_in_outbox(b, claim, src, &sk->taken, sk->kept_as, false);
                free(src);
                copied = copied || k > 0;
                if (k < 0 && errno_is_transient(k))
                        r = k;
        }
        if (claim >= 0)
                close(claim);
        if (r == 0 && copied && syncfs(q->outbox_fd) < 0)
                r = -errno;
        if (r == 0 && b->projection_next < first_job && projection_yield(b))
                return;
        for (; r == 0 && b->projection_next < first_job + b->n_jobs; b->projection_next++) {
                struct job *j = &b->jobs[b->projection_next - first_job];
                if (b->projection_next > started_at && now_usec(CLOCK_MONOTONIC) > deadline && projection_yield(b))
                        return;
                if (b->projection_stale_only && !j->stale)
                        continue;
                if (!j->stale && (j->state == JOB_DONE || j->state == JOB_FAILED || j->state == JOB_CANCELED)) {
                        char *st = xasprintf("%s/%s/" STATUS_FILE, b->id, j->name);
                        k = faccessat(q->outbox_fd, st, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
                        free(st);
                        if (k == 0)
                                continue;
                        if (k != -ENOENT) {
                                r = k;
                                break;
                        }
                }
                char *dir = job_dir(j);
                r = fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
                /* A job canceled before it started keeps its original beside its status,
                 * like every job that ended; the status last, so that a crash between
                 * the two has the next projection copy it (a job with its status is
                 * not looked at again). */
                if (r == 0 && j->state == JOB_CANCELED)
                        r = keep_original(j, dir);
                if (r == 0)
                        r = status_write_job(j, dir);
                /* What a request changed: its record too (the attempts), once its status is out. */
                if (r == 0 && j->stale && (r = write_job_record(j)) == 0)
                        j->stale = false;
                if (r < 0)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id, .job = j->name },
                                 -r, NULL, "cannot write the job's status file or record: %s", strerror(-r));
                free(dir);
                if (b->projection_next % 4096 == 4095)
                        notify_progress();
        }
        if (r == 0)
                r = status_write_batch(b);
        b->projection_next = 0;
        b->projection_stale_only = false;
        b->projection_pending = r < 0;
        b->status_dirty = r < 0;
        if (r < 0)
                (void) spool_defer(q, "cannot write a batch's folder in the outbox", r);
}

static int on_projection_slice(sd_event_source *src, void *userdata) {
        struct batch *b = userdata;

        write_projection(b);
        if (!b->projection_pending)
                batch_finish_if_done(b); /* may free B */
        return 0;
}

static void batch_link(struct queue *q, struct batch *b) {
        struct batch **p = &q->batches;
        while (*p)
                p = &(*p)->next;
        b->next = NULL;
        *p = b;
}

static void batch_count(struct batch *b) {
        memset(b->counts, 0, sizeof(b->counts));
        b->pages_done = 0;
        b->next_job = b->n_jobs;
        for (size_t i = 0; i < b->n_jobs; i++) {
                b->counts[b->jobs[i].state]++;
                b->pages_done += b->jobs[i].state == JOB_DONE ? b->jobs[i].pages : 0;
                if (b->jobs[i].state == JOB_QUEUED && i < b->next_job)
                        b->next_job = i;
        }
}

static int parse_batch_record(struct queue *q, const char *claim, struct batch **ret, char **ret_why);
static int load_parsed(struct queue *q, int r, struct batch *b, char *why, struct batch **ret);

/* The record of a batch that register.c made from a claim: its jobs, the ones
 * that ended at registration among them. Written once; B stays the caller's. */
int spool_batch_record(struct batch *b) {
        struct queue *q = b->queue;
        int r = 0;

        char *jobs_dir = xasprintf("%s/jobs", b->claim_path);
        if (mkdir(jobs_dir, 0700) < 0 && errno != EEXIST)
                r = -errno;
        free(jobs_dir);
        if (r == 0)
                r = spool_write_record(b->claim_path, "batch.json", batch_record(b), true);
        if (r < 0) {
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name, .batch = b->id }, -r, NULL,
                         "cannot record the batch in %s: %s; it stays claimed and is retried", b->claim_path,
                         strerror(-r));
                (void) unlinkat(q->outbox_fd, b->id, AT_REMOVEDIR);
        }
        return r;
}

/* A claim whose batch record registration just wrote becomes part of the
 * spool: loaded, shown in the outbox, handed to the scheduler. */
static int adopt_parsed(struct queue *q, int r, struct batch *b, char *why) {
        r = load_parsed(q, r, b, why, &b);
        if (r < 0) {
                if (errno_is_transient(r))
                        (void) spool_defer(q, "cannot read a new batch's record", r);
                return r;
        }
        write_projection(b);
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name, .batch = b->id, .state = "queued" }, 0,
                 MSGID_BATCH_ACCEPTED, "batch accepted: %zu PDF%s, %zu skipped", b->n_jobs,
                 b->n_jobs == 1 ? "" : "s", b->n_skipped);
        /* Each job that ended at registration is said, the first few one by one. */
        size_t said = 0;
        for (size_t i = 0; i < b->n_jobs; i++)
                if (b->jobs[i].state == JOB_FAILED && ++said <= 10)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id, .job = b->jobs[i].name,
                                                                  .state = "failed" },
                                 0, MSGID_JOB_FAILED, "job failed: %s", b->jobs[i].error);
        if (said > 10)
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id }, 0, NULL,
                         "%zu more jobs failed before they started; each job's status says why", said - 10);
        batch_link(q, b);
        batch_finish_if_done(b);
        return 0;
}

/* Parsing the record of a batch of 100,000 jobs (12 MB of JSON) and freeing
 * the parse take about a second: a thread does that, and tells the loop
 * through an eventfd; the loop then adopts the batch. */
struct batch_load {
        struct queue *queue;
        char *claim;
        spool_adopted_fn adopted;
        void *userdata;
        pthread_t thread;
        int efd;
        sd_event_source *source;
        int r;                  /* the thread's result: r, batch, why */
        struct batch *batch;
        char *why;
        struct batch_load *next;
};

static struct batch_load *batch_loads;

static void *batch_load_thread(void *userdata) {
        struct batch_load *l = userdata;
        uint64_t one = 1;

        l->r = parse_batch_record(l->queue, l->claim, &l->batch, &l->why);
        (void) write(l->efd, &one, sizeof(one));
        return NULL;
}

/* Waits for the thread: at most the rest of one parse. */
static void batch_load_free(struct batch_load *l) {
        for (struct batch_load **p = &batch_loads; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        (void) pthread_join(l->thread, NULL);
        sd_event_source_disable_unref(l->source);
        close(l->efd);
        if (l->batch)
                spool_batch_free(l->batch);
        free(l->why);
        free(l->claim);
        free(l);
}

static int on_batch_loaded(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct batch_load *l = userdata;
        struct queue *q = l->queue;
        spool_adopted_fn adopted = l->adopted;
        void *adopted_userdata = l->userdata;
        int r = l->r;
        struct batch *b = l->batch;
        char *why = l->why;

        l->batch = NULL;
        l->why = NULL;
        batch_load_free(l);
        if (q->spool->stopping) {
                if (b)
                        spool_batch_free(b);
                free(why);
                return 0; /* the claim stays registered: the next start resumes it */
        }
        if (adopt_parsed(q, r, b, why) == 0 && adopted)
                adopted(q, adopted_userdata);
        return 0;
}

int spool_batch_adopt(struct queue *q, const char *claim, spool_adopted_fn adopted, void *userdata) {
        struct batch *b = NULL;
        char *why = NULL;
        int r;

        if (q->spool->event) {
                struct batch_load *l = xcalloc(1, sizeof(*l));
                l->queue = q;
                l->claim = xstrdup(claim);
                l->adopted = adopted;
                l->userdata = userdata;
                l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                r = l->efd < 0 ? -errno : sd_event_add_io(q->spool->event, &l->source, l->efd, EPOLLIN, on_batch_loaded, l);
                if (r >= 0)
                        r = -pthread_create(&l->thread, NULL, batch_load_thread, l);
                if (r == 0) {
                        l->next = batch_loads;
                        batch_loads = l;
                        return 0;
                }
                /* No thread to be had: parsed here, in the loop, as it always was. */
                sd_event_source_disable_unref(l->source);
                if (l->efd >= 0)
                        close(l->efd);
                free(l->claim);
                free(l);
        }
        r = parse_batch_record(q, claim, &b, &why);
        r = adopt_parsed(q, r, b, why);
        if (r == 0 && adopted)
                adopted(q, userdata);
        return r;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ---- loading what a previous run left ---- */

/* Which jobs of B have a record in jobs/ (N.json): HAS[N] set. */
static int list_job_records(const struct batch *b, bool *has) {
        char *path = xasprintf("%s/jobs", b->claim_path);
        DIR *d = opendir(path);
        struct dirent *de;
        int r = 0;

        free(path);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno != 0 ? -errno : 0;
                        break;
                }
                char *end;
                errno = 0;
                unsigned long n = strtoul(de->d_name, &end, 10);
                if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && errno == 0 && strcmp(end, ".json") == 0 &&
                    n < b->n_jobs)
                        has[n] = true;
        }
        closedir(d);
        return r;
}

/* What requests set on a batch (held, canceled): <claim>/control.json; none
 * when the file is absent. Any other failure to read it is no answer. */
static int read_batch_control(struct batch *b) {
        char *path = xasprintf("%s/control.json", b->claim_path), *text = NULL;
        int r = fs_read_file(AT_FDCWD, path, 1 << 16, &text, NULL);

        free(path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        b->held = json_is_true(json_object_get(j, "held"));
        b->held_why = json_is_string(json_object_get(j, "held_why")) ? xstrdup(json_string_value(json_object_get(j, "held_why"))) : NULL;
        b->pages_allowed = json_is_true(json_object_get(j, "pages_allowed"));
        b->canceled = json_is_true(json_object_get(j, "canceled"));
        if (json_is_integer(json_object_get(j, "priority"))) /* set by a request: over the manifest's */
                b->priority = (int) json_integer_value(json_object_get(j, "priority"));
        json_decref(j);
        return 0;
}

static int write_batch_control(const struct batch *b) {
        return spool_write_record(b->claim_path, "control.json",
                                  json_pack("{s:b,s:s?,s:b,s:b,s:i}", "held", b->held, "held_why", b->held_why,
                                            "pages_allowed", b->pages_allowed, "canceled", b->canceled, "priority",
                                            b->priority), true);
}

/* The batch record of CLAIM, parsed into a batch (jobs that ended at
 * registration among them). Touches no loop, log nor other state of the
 * spool, so that a thread may run it (spool_batch_adopt); on failure
 * *RET_WHY may say what to log. */
static int parse_batch_record(struct queue *q, const char *claim, struct batch **ret, char **ret_why) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *path = xasprintf("%s/batch.json", claim_path);
        json_error_t err;
        char *text = NULL;
        int r = fs_read_file(AT_FDCWD, path, 256 << 20, &text, NULL);
        json_t *rec = r < 0 ? NULL : json_loads(text, JSON_REJECT_DUPLICATES, &err);
        struct batch *b;

        free(text);
        if (!rec && r < 0) {
                free(path);
                free(claim_path);
                return r;
        }
        r = 0;
        if (!rec) {
                *ret_why = xasprintf("cannot read batch record %s: %s (line %d); left as it is", path, err.text,
                                     err.line);
                free(path);
                free(claim_path);
                return -EBADMSG;
        }
        free(path);
        b = xcalloc(1, sizeof(*b));
        b->queue = q;
        b->claim = xstrdup(claim);
        b->claim_path = claim_path;
        b->id = names_from_json_exact(json_object_get(rec, "id"));
        b->drop = names_from_json_exact(json_object_get(rec, "drop"));
        b->root = names_from_json_exact(json_object_get(rec, "root"));
        if (json_object_get(rec, "kept_drop")) {
                b->kept_drop = names_from_json_exact(json_object_get(rec, "kept_drop"));
                b->kept_drop_as = names_from_json_exact(json_object_get(rec, "kept_drop_as"));
                get_taken(rec, "kept_drop_taken", &b->kept_drop_taken);
        }
        json_t *labels = json_object_get(rec, "labels");
        b->labels = json_is_object(labels) ? json_incref(labels) : NULL;
        json_t *processing = json_object_get(rec, "processing");
        b->processing = json_is_object(processing) ? json_incref(processing) : NULL;
        b->thumbnail_size = (unsigned) json_integer_value(json_object_get(rec, "thumbnail_size"));
        b->job_timeout_usec = (uint64_t) json_integer_value(json_object_get(rec, "job_timeout_usec"));
        b->priority = (int) json_integer_value(json_object_get(rec, "priority"));
        b->not_before = (uint64_t) json_integer_value(json_object_get(rec, "not_before_usec"));
        b->created = (uint64_t) json_integer_value(json_object_get(rec, "created"));
        json_t *jobs = json_object_get(rec, "jobs"), *skipped = json_object_get(rec, "skipped");
        json_t *errors = json_object_get(rec, "errors");
        b->n_jobs = json_array_size(jobs);
        b->jobs = xcalloc(b->n_jobs, sizeof(struct job));
        for (size_t i = 0; i < b->n_jobs; i++) {
                json_t *e = json_array_get(jobs, i);
                struct job *j = &b->jobs[i];
                j->batch = b;
                j->index = (unsigned) i;
                j->source = names_from_json_exact(json_object_get(e, "source"));
                j->name = names_from_json_exact(json_object_get(e, "name"));
                j->original = names_from_json_exact(json_object_get(e, "original"));
                get_taken(e, "taken", &j->taken);
                if (!j->source || !j->name || !j->original)
                        r = -EBADMSG;
                json_t *failed = json_object_get(e, "failed");
                if (failed) {
                        json_t *at = json_object_get(failed, "e");
                        const char *why = at ? json_string_value(json_array_get(errors, (size_t) json_integer_value(at)))
                                             : json_string_value(json_object_get(failed, "error"));
                        j->state = JOB_FAILED;
                        j->failed_at_registration = true;
                        j->error = xstrdup(why ?: "failed");
                        j->finished = (uint64_t) json_integer_value(json_object_get(failed, "finished"));
                }
        }
        b->n_skipped = json_array_size(skipped);
        b->skipped = xcalloc(b->n_skipped, sizeof(struct skipped));
        for (size_t i = 0; i < b->n_skipped; i++) {
                json_t *e = json_array_get(skipped, i);
                json_t *kept = json_object_get(e, "kept_as");
                b->skipped[i].source = names_from_json_exact(json_object_get(e, "source"));
                b->skipped[i].reason = xstrdup(json_string_value(json_object_get(e, "reason")) ?: "skipped");
                b->skipped[i].kept_as = json_is_null(kept) || !kept ? NULL : names_from_json_exact(kept);
                get_taken(e, "taken", &b->skipped[i].taken);
                if (!b->skipped[i].source)
                        r = -EBADMSG;
        }
        json_decref(rec);
        if (r < 0 || !b->id || !b->drop || !b->root || (b->kept_drop && !b->kept_drop_as)) {
                *ret_why = xasprintf("batch record %s/batch.json is damaged; left as it is", b->claim_path);
                spool_batch_free(b);
                return -EBADMSG;
        }
        *ret = b;
        return 0;
}

/* Each job's latest state from its record in jobs/, and the counts. Frees B
 * when it cannot. */
static int load_job_states(struct batch *b) {
        struct queue *q = b->queue;
        json_error_t err;
        int r;

        r = read_batch_control(b);
        if (r < 0) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id }, -r, NULL,
                         "cannot read %s/control.json: %s", b->claim_path, strerror(-r));
                spool_batch_free(b);
                return r;
        }

        /* Each job's latest state: the records there are, listed once (a new
         * batch of 100,000 jobs has none, and must not cost 100,000 opens). */
        bool *has_record = xcalloc(b->n_jobs + 1, sizeof(bool));
        r = list_job_records(b, has_record);
        if (r < 0) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id }, -r, NULL,
                         "cannot list the job records in %s/jobs: %s", b->claim_path, strerror(-r));
                free(has_record);
                spool_batch_free(b);
                return r;
        }
        for (size_t i = 0; i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                j->has_record = has_record[i];
                if (!has_record[i] && j->state == JOB_QUEUED && b->canceled) {
                        /* Never started, and its batch was canceled as a whole. */
                        j->state = JOB_CANCELED;
                        j->error = xstrdup(CANCELED_REASON);
                        j->stale = true; /* its status may still say queued: rewritten */
                }
                if (!has_record[i] || j->state == JOB_FAILED)
                        continue; /* never started, or ended at registration */
                char *jp = xasprintf("%s/jobs/%zu.json", b->claim_path, i);
                char *jtext = NULL;
                int k = fs_read_file(AT_FDCWD, jp, 1 << 20, &jtext, NULL);
                free(jp);
                if (k == -ENOENT)
                        continue;
                json_t *jr = k < 0 ? NULL : json_loads(jtext, 0, &err);
                free(jtext);
                if (!jr) {
                        /* A job whose end cannot be read must not run a second time: wait. */
                        if (k >= 0)
                                k = -EBADMSG;
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id }, -k, NULL,
                                 "cannot read job record %s/jobs/%zu.json: %s", b->claim_path, i,
                                 k == -EBADMSG ? err.text : strerror(-k));
                        free(has_record);
                        spool_batch_free(b);
                        return k;
                }
                int st = job_state_from_string(json_string_value(json_object_get(jr, "state")));
                j->attempts = (unsigned) json_integer_value(json_object_get(jr, "attempts"));
                j->pages = (unsigned) json_integer_value(json_object_get(jr, "pages"));
                j->started = (uint64_t) json_integer_value(json_object_get(jr, "started"));
                j->finished = (uint64_t) json_integer_value(json_object_get(jr, "finished"));
                j->seconds = json_number_value(json_object_get(jr, "seconds"));
                const char *tl = json_string_value(json_object_get(jr, "text_layer"));
                j->text_layer = tl ? xstrdup(tl) : NULL;
                if (json_object_get(jr, "filter"))
                        j->filter = json_incref(json_object_get(jr, "filter"));
                const char *e = json_string_value(json_object_get(jr, "error"));
                j->error = e ? xstrdup(e) : NULL;
                j->state = st < 0 ? JOB_QUEUED : (enum job_state) st;
                json_decref(jr);
                if (j->state == JOB_PROCESSING) {
                        /* The daemon stopped while this job ran: run it again, a few times at most.
                         * Not for a Slurm queue: its PDFs run elsewhere, so the daemon's end
                         * is not theirs, and the Slurm job may still run (adopted, slurm.c). */
                        if (j->attempts >= MAX_INTERRUPTED_ATTEMPTS && q->cfg->executor != EXECUTOR_SLURM) {
                                j->state = JOB_FAILED;
                                free(j->error);
                                j->error = xasprintf("processing was interrupted %u times (the service stopped "
                                                     "or crashed while this file was being processed); not retried",
                                                     j->attempts);
                                j->finished = now_usec(CLOCK_REALTIME);
                                (void) write_job_record(j);
                                /* The projection leaves an ended job's status file as it is:
                                 * the one there still says processing. */
                                char *dir = job_dir(j);
                                (void) status_write_job(j, dir);
                                free(dir);
                        } else
                                j->state = JOB_QUEUED;
                }
                if (j->started && (!b->started || j->started < b->started))
                        b->started = j->started;
        }
        free(has_record);
        batch_count(b);
        return 0;
}

/* What parse_batch_record gave (R, B, WHY, all taken), with each job's state. */
static int load_parsed(struct queue *q, int r, struct batch *b, char *why, struct batch **ret) {
        if (why)
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, 0, NULL, "%s", why);
        free(why);
        if (r == 0)
                r = load_job_states(b);
        if (r == 0)
                *ret = b;
        return r;
}

static int load_batch(struct queue *q, const char *claim, struct batch **ret) {
        struct batch *b = NULL;
        char *why = NULL;
        int r = parse_batch_record(q, claim, &b, &why);

        return load_parsed(q, r, b, why, ret);
}


static int list_claims(const char *path, char ***ret, size_t *ret_n) {
        DIR *d = opendir(path);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;

        if (!d)
                return -errno;
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (de->d_name[0] == '.')
                        continue;
                names = xrealloc(names, (n + 1) * sizeof(char *));
                names[n++] = xstrdup(de->d_name);
        }
        int err = errno;
        closedir(d);
        if (err != 0) {
                /* A claim not listed would be a batch not resumed: all or nothing. */
                while (n > 0)
                        free(names[--n]);
                free(names);
                return -err;
        }
        if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(names, n, sizeof(char *), compare_strings); /* claim names start with the time */
        *ret = names;
        *ret_n = n;
        return 0;
}

int spool_claims(struct queue *q, char ***ret, size_t *ret_n) {
        return list_claims(q->claims_path, ret, ret_n);
}

bool spool_batch_loaded(const struct queue *q, const char *claim) {
        for (const struct batch_load *l = batch_loads; l; l = l->next)
                if (l->queue == q && strcmp(l->claim, claim) == 0)
                        return true; /* being loaded: as good as loaded */
        for (const struct batch *b = q->batches; b; b = b->next)
                if (strcmp(b->claim, claim) == 0)
                        return true;
        return false;
}

int spool_claim_registered(const struct queue *q, const char *claim) {
        char *rec = xasprintf("%s/%s/batch.json", q->claims_path, claim);
        struct stat st;
        int r = stat(rec, &st) == 0 ? 1 : errno == ENOENT ? 0 : -errno;

        free(rec);
        return r;
}

int spool_batch_resume(struct queue *q, const char *claim) {
        struct batch *b;
        int r = load_batch(q, claim, &b);

        if (r < 0) {
                if (errno_is_transient(r))
                        (void) spool_defer(q, "cannot read a batch's records", r);
                return r;
        }
        /* Temp files of atomic writes a crash interrupted, temp folders of jobs:
         * the daemon's own. In the claim, these two folders only, never the drop in src/. */
        char *jobs_dir = xasprintf("%s/jobs", b->claim_path);
        fs_remove_temps(AT_FDCWD, b->claim_path, false);
        fs_remove_temps(AT_FDCWD, jobs_dir, false);
        free(jobs_dir);
        /* A Slurm queue's temp folders may belong to a Slurm job that still runs
         * and is adopted in a moment (slurm.c): a job that runs again empties
         * its own temp folder first (spool_job_start). */
        if (q->cfg->executor != EXECUTOR_SLURM)
                fs_remove_temps(q->outbox_fd, b->id, true);
        write_projection(b);
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name, .batch = b->id }, 0, NULL,
                 "batch resumed: %zu of %zu jobs still to do", b->counts[JOB_QUEUED], b->n_jobs);
        batch_link(q, b);
        batch_finish_if_done(b);
        return 0;
}

void spool_queue_refresh(struct queue *q) {
        /* Outbox folders not complete yet; batches that ended but could not be put away. */
        for (struct batch *b = q->batches, *next; b; b = next) {
                next = b->next;
                int enabled = SD_EVENT_OFF;
                if (b->projection_source)
                        (void) sd_event_source_get_enabled(b->projection_source, &enabled);
                if (b->projection_pending && enabled == SD_EVENT_OFF)
                        write_projection(b);
                batch_finish_if_done(b);
        }
}

/* ---- job transitions ---- */

int spool_job_start(struct job *j, char **ret_pdf_path, char **ret_out_dir) {
        struct batch *b = j->batch;
        struct queue *q = b->queue;
        char *tmp = job_tmp_dir(j);
        int r;

        /* A fresh, empty place for the worker's outputs: what an earlier attempt
         * left there must never pass for this attempt's results. */
        r = fs_remove_tree(q->outbox_fd, tmp);
        if (r == 0)
                r = fs_mkdirat_p_owned(q->outbox_fd, tmp, q->cfg->dir_mode, q->gid);
        if (r < 0) {
                free(tmp);
                return r;
        }

        b->counts[j->state]--;
        j->state = JOB_PROCESSING;
        b->counts[j->state]++;
        j->attempts++;
        j->started = now_usec(CLOCK_REALTIME);
        j->finished = 0;
        free(j->error);
        j->error = NULL;
        free(j->runner); /* an earlier run's; the executor says this one's */
        j->runner = NULL;
        if (!b->started)
                b->started = j->started;
        mark_dirty(b);

        *ret_pdf_path = job_source_path(j);
        *ret_out_dir = xasprintf("%s/%s", q->cfg->outbox, tmp);
        free(tmp);
        return 0;
}

void spool_job_announce(struct job *j) {
        struct batch *b = j->batch;
        struct queue *q = b->queue;

        /* Not recorded, a crash runs the job again without counting the attempt: no harm. */
        int r = write_job_record(j);
        if (r < 0)
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id, .job = j->name }, -r,
                         NULL, "cannot record that the job started: %s", strerror(-r));
        char *dir = job_dir(j);
        (void) fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
        (void) status_write_job(j, dir);
        free(dir);
}

int spool_job_filter_paths(struct job *j, char **ret_input, char **ret_out_dir, const char **ret_why) {
        struct queue *q = j->batch->queue;
        char *tmp = job_tmp_dir(j), *rel = xasprintf("%s/%s", tmp, j->original);
        int fd = spool_job_open_source(j, ret_why), r;

        /* The copy the job's folder keeps (prepare_outputs finds it there), synced
         * with the filters' outputs by move_outputs. */
        r = fd < 0 ? fd : fs_copy_fd(fd, q->outbox_fd, rel, q->cfg->file_mode, q->gid, false);
        if (fd >= 0)
                close(fd);
        if (r == -EEXIST)
                r = 0;
        if (r == 0) {
                *ret_input = xasprintf("%s/%s", q->cfg->outbox, rel);
                *ret_out_dir = xasprintf("%s/%s", q->cfg->outbox, tmp);
        }
        free(rel);
        free(tmp);
        return r;
}

/* Move every file of the temp folder into the job's folder, status last; each
 * gets the queue's file mode and group on the way. Any failure leaves the job
 * not done: the next attempt starts again from an empty temp folder. */
/* An output gets the queue's mode and group; a folder (tables/) dir_mode, the
 * files in it file_mode. */
static int set_output_owner(int dirfd, const char *name, const struct queue *q) {
        struct stat st;
        struct dirent *de;
        DIR *d;
        int fd, r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return fs_set_owner(dirfd, name, q->cfg->file_mode, q->gid);
        r = fs_set_owner(dirfd, name, q->cfg->dir_mode, q->gid);
        if (r < 0)
                return r;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        for (errno = 0; (de = readdir(d)) && r == 0; errno = 0)
                if (!fs_dot_or_dotdot(de->d_name))
                        r = fs_set_owner(fd, de->d_name, q->cfg->file_mode, q->gid);
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

/* SYNC_FD: on the outbox's file system, opened before anything in TMP was
 * written that the worker did not sync itself (syncfs reports only the failed
 * writebacks newer than its descriptor). */
static int move_outputs(const struct queue *q, int sync_fd, const char *tmp, const char *dir, const char **ret_what) {
        int dirfd = q->outbox_fd;
        DIR *d;
        struct dirent *de;
        int fd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int dfd, r = 0;

        *ret_what = "cannot open the job's temp folder in the outbox";
        if (fd < 0)
                return -errno;
        dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                close(fd);
                *ret_what = "cannot open the job's folder in the outbox";
                return r;
        }
        /* Everything in the temp folder, with its directory entries, is on the
         * disk before the first of them moves: the worker synced its files, this
         * the original's copy and the status. */
        if (syncfs(sync_fd) < 0) {
                r = -errno;
                *ret_what = "cannot sync the outbox";
        }
        d = r < 0 ? NULL : fdopendir(fd);
        if (!d && r == 0) {
                r = -errno;
                *ret_what = "cannot read the job's temp folder";
        }
        while (d && r == 0) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = -errno;
                                *ret_what = "cannot read the job's temp folder";
                        }
                        break;
                }
                if (fs_dot_or_dotdot(de->d_name) || strcmp(de->d_name, STATUS_FILE) == 0)
                        continue;
                /* A temp is no output: one a worker killed midway left (an earlier
                 * attempt's, still dying under a slow kill) goes with the temp folder. */
                if (fs_is_temp_name(de->d_name)) {
                        r = fs_remove_tree(fd, de->d_name);
                        if (r < 0 && r != -ENOENT) {
                                *ret_what = "cannot remove a worker's temp file";
                                break;
                        }
                        r = 0;
                        continue;
                }
                r = set_output_owner(fd, de->d_name, q);
                if (r < 0) {
                        *ret_what = "cannot set the mode of an output";
                        break;
                }
                struct stat dst;
                bool is_dir = de->d_type == DT_DIR ||
                              (de->d_type == DT_UNKNOWN && fstatat(fd, de->d_name, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
                               S_ISDIR(dst.st_mode));
                if (is_dir && renameat2(fd, de->d_name, dfd, de->d_name, RENAME_EXCHANGE) == 0) {
                        /* A folder an earlier attempt put in place (tables/): swapped
                         * at once, and the old one, now in the temp folder, goes. */
                        r = fs_remove_tree(fd, de->d_name);
                        if (r < 0)
                                *ret_what = "cannot remove an earlier attempt's output";
                        continue;
                }
                if (renameat(fd, de->d_name, dfd, de->d_name) < 0) {
                        r = -errno;
                        *ret_what = "cannot move an output into the job's folder";
                } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
                        /* Renaming a link onto another link of the same file (the original,
                         * kept by an earlier attempt) succeeds and does nothing. */
                        r = -errno;
                        *ret_what = "cannot remove a temp file";
                }
        }
        if (r == 0 && renameat(fd, STATUS_FILE, dfd, STATUS_FILE) < 0) {
                r = -errno;
                *ret_what = "cannot move the job's status file into place";
        }
        if (r == 0 && fsync(dfd) < 0) {
                r = -errno;
                *ret_what = "cannot sync the job's folder";
        }
        if (d)
                closedir(d);
        else
                close(fd);
        close(dfd);
        if (r == 0 && unlinkat(dirfd, tmp, AT_REMOVEDIR) < 0) {
                r = -errno;
                *ret_what = "cannot remove the job's temp folder";
        }
        return r;
}

/* Keep the original next to the results, done or failed; a failed job's
 * partial results would mislead, so only the original and the status stay. */
static int prepare_outputs(struct job *j, enum job_state state, const char *tmp, const char **ret_what,
                           char **ret_why) {
        struct queue *q = j->batch->queue;
        const char *why = NULL;
        int r, kept;

        *ret_what = "cannot create the job's temp folder in the outbox";
        r = fs_mkdirat_p_owned(q->outbox_fd, tmp, q->cfg->dir_mode, q->gid);
        if (r < 0)
                return r;
        /* The original: a copy the daemon makes of what registration took. */
        char *path = xasprintf("%s/%s", tmp, j->original);
        int fd = spool_job_open_source(j, &why);
        /* Not synced here: move_outputs syncs the temp folder's file system first. */
        kept = fd < 0 ? fd : fs_copy_fd(fd, q->outbox_fd, path, q->cfg->file_mode, q->gid, false);
        if (fd >= 0)
                close(fd);
        free(path);
        for (size_t k = 0; state != JOB_DONE && model_job_all_outputs[k]; k++) {
                if (strcmp(model_job_all_outputs[k], OUTPUT_LOG) == 0)
                        continue; /* what its filters said: it tells why the job failed */
                char *p = xasprintf("%s/%s", tmp, model_job_all_outputs[k]);
                int e = fs_remove_tree(q->outbox_fd, p); /* the worker's own files, tables/ too */
                if (e < 0 && e != -ENOENT && r == 0) {
                        r = e;
                        *ret_what = "cannot remove a failed job's partial output";
                }
                free(p);
        }
        if (r == 0 && kept < 0 && kept != -EEXIST) {
                r = kept;
                *ret_what = "cannot keep the original in the outbox";
                if (why && ret_why)
                        *ret_why = xstrdup(why);
        }
        return r;
}

/* Done needs every output a worker writes: one missing (a worker that said ok
 * without it, a hand in the temp folder) is retried, never recorded done. */
static int check_outputs(const struct queue *q, const struct job *j, const char *tmp) {
        const char *const *required = j->required_outputs ? (const char *const *) j->required_outputs
                                                          : model_job_outputs;
        for (size_t k = 0; required[k]; k++) {
                char *p = xasprintf("%s/%s", tmp, required[k]);
                int r = faccessat(q->outbox_fd, p, F_OK, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
                free(p);
                if (r < 0)
                        return r;
        }
        return 0;
}

int spool_job_finish(struct job *j, enum job_state state, unsigned pages, const char *error) {
        struct batch *b = j->batch;
        struct queue *q = b->queue;
        struct spool *s = q->spool;
        char *tmp = job_tmp_dir(j), *dir = job_dir(j);
        struct log_ctx ctx = { .queue = q->name, .batch = b->id, .job = j->name };
        const char *what;
        int r;

        /* Before the daemon writes into the temp folder: move_outputs' syncfs. */
        int sync_fd = openat(q->outbox_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sync_fd < 0) {
                r = -errno;
                spool_job_defer(j, "cannot open the outbox", r);
                free(tmp);
                free(dir);
                return r;
        }
        char *why = NULL;
        r = prepare_outputs(j, state, tmp, &what, &why);
        if (r < 0 && !errno_is_transient(r)) {
                /* The claimed file itself is gone or refused (changed after it was
                 * taken): that is this job's end, and its status says why. */
                if (state == JOB_DONE) {
                        state = JOB_FAILED;
                        free(j->error);
                        j->error = why ? why : xasprintf("%s: %s", what, strerror(-r));
                        why = NULL;
                        error = NULL;
                        r = prepare_outputs(j, state, tmp, &what, NULL);
                } else
                        r = 0;
                if (r < 0 && !errno_is_transient(r))
                        r = 0;
        }
        free(why);
        if (r < 0) {
                spool_job_defer(j, what, r);
                goto finish;
        }

        /* The job's end as readers will see it; recorded only once it is in place. */
        enum job_state old_state = j->state;
        char *old_error = j->error;
        j->error = error ? xstrdup(error) : old_error ? xstrdup(old_error) : NULL;
        j->state = state;
        j->pages = state == JOB_DONE ? pages : 0;
        j->finished = now_usec(CLOCK_REALTIME);
        j->seconds = j->started ? (double) (j->finished - j->started) / USEC_PER_SEC : 0;
        /* Done means every output is in place: outputs that vanished before they
         * were moved (a person removed the batch's folder in the outbox while the
         * job ran) send the job back to run again, never done without them. */
        what = "an output of the worker is missing from the job's temp folder";
        r = state == JOB_DONE ? check_outputs(q, j, tmp) : 0;
        if (r == 0) {
                what = "cannot write the job's status file";
                r = status_write_job_staged(j, tmp); /* synced by move_outputs */
        }
        if (r == 0) {
                what = "cannot create the job's folder in the outbox";
                r = fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
        }
        if (r == 0)
                r = move_outputs(q, sync_fd, tmp, dir, &what);
        if (r == 0) {
                what = "cannot record the job's end";
                r = write_job_record(j);
        }
        if (r < 0) {
                free(j->error);
                j->error = old_error;
                j->state = old_state;
                j->pages = 0;
                j->finished = 0;
                spool_job_defer(j, what, r);
                goto finish;
        }
        free(old_error);

        b->counts[old_state]--;
        b->counts[j->state]++;
        if (state == JOB_DONE) {
                b->pages_done += j->pages;
                s->pages_done += j->pages;
                s->pages_window_count += j->pages;
                s->jobs_done++;
        } else if (state == JOB_FAILED)
                s->jobs_failed++;
        spool_queue_succeeded(q);
        job_drop_profile(j); /* it ran with it; the next attempt chooses again */

        ctx.state = job_state_to_string(state);
        if (state == JOB_FAILED)
                log_full(LOG_WARNING, &ctx, 0, MSGID_JOB_FAILED, "job failed: %s", j->error ? j->error : "failed");
        else
                log_full(LOG_INFO, &ctx, 0, NULL, "job %s: %u page%s in %.2f s", ctx.state, j->pages,
                         j->pages == 1 ? "" : "s", j->seconds);
        mark_dirty(b);
        if (s->on_job_ended)
                s->on_job_ended(j, s->on_ended_userdata);
        batch_finish_if_done(b);
finish:
        close(sync_fd);
        free(tmp);
        free(dir);
        return r;
}

int spool_job_requeue(struct job *j) {
        struct batch *b = j->batch;
        char *tmp = job_tmp_dir(j), *dir = job_dir(j);

        /* The daemon's own temp: if it cannot go now, the next start or attempt removes it. */
        (void) fs_remove_tree(b->queue->outbox_fd, tmp);
        b->counts[j->state]--;
        j->state = JOB_QUEUED;
        b->counts[j->state]++;
        if (j->attempts > 0)
                j->attempts--; /* a stop is not the file's fault */
        j->started = 0;
        (void) write_job_record(j);
        (void) status_write_job(j, dir);
        if (j->index < b->next_job)
                b->next_job = j->index;
        mark_dirty(b);
        free(tmp);
        free(dir);
        return 0;
}

int spool_job_adopt(struct job *j) {
        struct batch *b = j->batch;

        if (j->state != JOB_QUEUED)
                return -EBUSY;
        b->counts[j->state]--;
        j->state = JOB_PROCESSING;
        b->counts[j->state]++;
        if (!j->started)
                j->started = now_usec(CLOCK_REALTIME);
        int r = write_job_record(j);
        char *dir = job_dir(j);
        (void) status_write_job(j, dir);
        free(dir);
        mark_dirty(b);
        return r;
}

void spool_job_set_runner(struct job *j, const char *runner) {
        if (j->runner == runner || (j->runner && runner && strcmp(j->runner, runner) == 0))
                return;
        free(j->runner);
        j->runner = runner ? xstrdup(runner) : NULL;
        if (j->state != JOB_PROCESSING)
                return;
        char *dir = job_dir(j);
        (void) status_write_job(j, dir); /* the next write says it, if not this one */
        free(dir);
}

int spool_job_retry(struct job *j, const char *reason) {
        struct batch *b = j->batch;

        if (j->attempts >= MAX_INTERRUPTED_ATTEMPTS) {
                char *why = xasprintf("%s, %u times; not retried", reason, j->attempts);
                int r = spool_job_finish(j, JOB_FAILED, 0, why);
                free(why);
                return r;
        }
        unsigned attempts = j->attempts;
        (void) spool_job_requeue(j);
        j->attempts = attempts; /* counted: not a stop of the daemon's */
        free(j->error);
        j->error = xasprintf("retried: %s", reason);
        log_full(LOG_WARNING, &(struct log_ctx) { .queue = b->queue->name, .batch = b->id, .job = j->name }, 0,
                 NULL, "run %u ended without a result: %s; the job runs again", attempts, reason);
        char *dir = job_dir(j);
        int r = write_job_record(j);
        (void) status_write_job(j, dir);
        free(dir);
        return r;
}

void spool_job_defer(struct job *j, const char *what, int err) {
        struct queue *q = j->batch->queue;

        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = j->batch->id, .job = j->name },
                 err < 0 ? -err : err, NULL, "%s (%s/%s/%s): %s; the job waits and is retried", what, q->cfg->outbox,
                 j->batch->id, j->name, strerror(err < 0 ? -err : err));
        const char *why = spool_defer(q, what, err);

        if (j->state == JOB_PROCESSING)
                (void) spool_job_requeue(j);
        else if (j->state != JOB_QUEUED)
                return;
        free(j->error);
        j->error = xasprintf("deferred: %s", why);
        char *dir = job_dir(j);
        (void) status_write_job(j, dir);
        free(dir);
}

static int on_defer_over(sd_event_source *src, uint64_t usec, void *userdata);

/* The retry at q->defer_until, on an absolute time: a relative one counts from
 * the loop's last wake-up, which may be long ago, and would fire early. */
static void arm_defer_timer(struct queue *q) {
        uint64_t now = now_usec(CLOCK_REALTIME), left = q->defer_until > now ? q->defer_until - now : 0;
        uint64_t at = now_usec(CLOCK_MONOTONIC) + left;
        int r;

        if (!q->spool->event)
                return;
        r = q->defer_timer ? sd_event_source_set_time(q->defer_timer, at)
                           : sd_event_add_time(q->spool->event, &q->defer_timer, CLOCK_MONOTONIC, at,
                                               50 * USEC_PER_MSEC, on_defer_over, q);
        if (r >= 0)
                r = sd_event_source_set_enabled(q->defer_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                /* Nothing would retry the queue's work: say so; the next deferral arms it again. */
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot arm the timer that retries deferred work: %s", strerror(-r));
}

static int on_defer_over(sd_event_source *src, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        struct spool *s = q->spool;

        if (queue_deferred(q) && q->defer_until > now_usec(CLOCK_REALTIME) + 50 * USEC_PER_MSEC) {
                arm_defer_timer(q); /* not yet: the realtime clock is the deferral's */
                return 0;
        }
        q->defer_until = 0;
        if (s->on_retry && !s->stopping)
                s->on_retry(q, s->on_retry_userdata);
        return 0;
}

const char *spool_defer(struct queue *q, const char *what, int err) {
        unsigned shift = q->defer_count < 9 ? q->defer_count : 9;
        uint64_t delay = (USEC_PER_SEC << shift) < 300 * USEC_PER_SEC ? USEC_PER_SEC << shift : 300 * USEC_PER_SEC;
        uint64_t until = now_usec(CLOCK_REALTIME) + delay;
        char when[40];

        err = err < 0 ? -err : err;
        /* A second fault while already deferred does not push the retry further out. */
        if (q->defer_until > until - delay && q->defer_reason)
                until = q->defer_until;
        else
                q->defer_count++;
        format_rfc3339(when, sizeof(when), until);
        free(q->defer_reason);
        q->defer_reason = xasprintf("%s: %s; retry at %.8s", what, strerror(err), when + 11);
        if (q->defer_until != until) {
                q->defer_until = until;
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, err, NULL,
                         "work deferred: %s (not the input's fault; attempt %u)", q->defer_reason, q->defer_count);
        }
        arm_defer_timer(q);
        return q->defer_reason;
}

void spool_queue_succeeded(struct queue *q) {
        if (queue_deferred(q))
                return;
        q->defer_count = 0;
        q->defer_until = 0;
        free(q->defer_reason);
        q->defer_reason = NULL;
}

static void batch_finish_if_done(struct batch *b) {
        struct queue *q = b->queue;
        struct log_ctx ctx = { .queue = q->name, .batch = b->id };
        enum batch_state st = batch_state(b);
        int r;

        if (st != BATCH_DONE && st != BATCH_CANCELED)
                return;
        if (b->keep_open)
                return; /* a request works on it: it finishes it after */
        if (b->projection_pending)
                return; /* its outbox folder first: a retry writes it, then finishes */
        if (!b->finished) {
                b->finished = now_usec(CLOCK_REALTIME);
                if (!b->started)
                        b->started = b->finished;
                ctx.state = batch_state_to_string(st);
                log_full(LOG_NOTICE, &ctx, 0, MSGID_BATCH_FINISHED,
                         "batch finished: %zu done, %zu failed, %zu skipped, %" PRIu64 " pages", b->counts[JOB_DONE],
                         b->counts[JOB_FAILED], b->n_skipped, b->pages_done);
                ctx.state = NULL;
        }
        /* The status must say so, durably, before the batch leaves memory; and the
         * claim keeps a copy (final.json), so that recovery can check the outbox
         * against it (spool_check_finished). Until every step worked, it stays,
         * and a deferral tries again. */
        json_t *final = status_batch_json(b, now_usec(CLOCK_REALTIME));
        char *path = xasprintf("%s/" STATUS_FILE, b->id);
        const char *what = "cannot write a finished batch's status file";
        r = fs_write_json(q->outbox_fd, path, final, q->cfg->file_mode, q->gid, FS_WRITE_SYNC_DIR | FS_WRITE_PRETTY);
        free(path);
        if (r == 0) {
                what = "cannot record a finished batch's status in its claim";
                r = spool_write_record(b->claim_path, "final.json",
                                       json_pack("{s:o,s:O}", "id", names_to_json_exact(b->id), "status", final),
                                       true);
        }
        json_decref(final);
        if (r < 0) {
                log_full(LOG_WARNING, &ctx, -r, NULL, "%s: %s", what, strerror(-r));
                b->status_dirty = true;
                (void) spool_defer(q, what, r);
                return;
        }
        b->status_dirty = false;

        /* Out of the claims: recovery never looks at it again. */
        char *to = xasprintf("%s/finished/%s", q->state_path, b->claim);
        r = rename(b->claim_path, to) < 0 ? -errno : 0;
        if (r == 0) {
                char *finished = xasprintf("%s/finished", q->state_path);
                (void) fs_fsync_dir(AT_FDCWD, finished);
                free(finished);
        }
        if (r < 0) {
                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot move the finished batch to %s: %s", to, strerror(-r));
                (void) spool_defer(q, "cannot move a finished batch out of the claims", r);
        }
        free(to);
        if (r < 0)
                return;
        if (q->spool->on_batch_finished)
                q->spool->on_batch_finished(b, q->spool->on_ended_userdata);
        for (struct batch **p = &q->batches; *p; p = &(*p)->next)
                if (*p == b) {
                        *p = b->next;
                        break;
                }
        spool_batch_free(b);
}

/* ---- status files: refreshed at most a quarter second after a change ---- */

static int on_status_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        spool_flush_status(userdata);
        return 0;
}

static void spool_schedule_status(struct spool *s) {
        if (!s->event)
                return;
        if (!s->status_timer) {
                if (sd_event_add_time_relative(s->event, &s->status_timer, CLOCK_MONOTONIC, STATUS_DELAY_USEC,
                                               50 * USEC_PER_MSEC, on_status_timer, s) < 0)
                        return;
                (void) sd_event_source_set_enabled(s->status_timer, SD_EVENT_ONESHOT);
                return;
        }
        int enabled = SD_EVENT_OFF;
        (void) sd_event_source_get_enabled(s->status_timer, &enabled);
        if (enabled == SD_EVENT_OFF) {
                (void) sd_event_source_set_time_relative(s->status_timer, STATUS_DELAY_USEC);
                (void) sd_event_source_set_enabled(s->status_timer, SD_EVENT_ONESHOT);
        }
}

static void mark_dirty(struct batch *b) {
        b->status_dirty = true;
        spool_schedule_status(b->queue->spool);
}

void spool_flush_status(struct spool *s) {
        for (struct queue *q = s->queues; q; q = q->next)
                for (struct batch *b = q->batches; b; b = b->next)
                        if (b->status_dirty) {
                                int r = status_write_batch(b);
                                if (r < 0) {
                                        /* The old status stays readable; the next change or retry writes it. */
                                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id },
                                                 -r, NULL, "cannot write the batch status file: %s", strerror(-r));
                                        (void) spool_defer(q, "cannot write a batch status file", r);
                                } else
                                        b->status_dirty = false;
                        }
}


/* ---- setting up ---- */

static char *instance_name(void) {
        char host[256] = "localhost";
        (void) gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
                if (*p == '/' || *p == '.' || (unsigned char) *p < 0x20)
                        *p = '_';
        return xstrdup(host);
}

int spool_new(struct config *config, sd_event *event, struct spool **ret) {
        struct spool *s = xcalloc(1, sizeof(*s));
        int r;

        s->config = config;
        s->event = event ? sd_event_ref(event) : NULL;
        s->instance = instance_name();
        r = fs_mkdir_p(config->state_dir, 0750);
        if (r < 0) {
                log_full(LOG_ERR, NULL, -r, NULL, "cannot create state directory %s: %s", config->state_dir,
                         strerror(-r));
                spool_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void spool_queue_set_config(struct queue *q, const struct queue_config *qc) {
        q->cfg = qc;
        q->gid = (gid_t) -1;
        if (!qc->group)
                return;
        struct group *g = getgrnam(qc->group);
        if (!g) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = qc->name }, 0, NULL,
                         "group %s does not exist; outbox files keep the daemon's group", qc->group);
                return;
        }
        if (q->outbox_fd >= 0 && fchown(q->outbox_fd, (uid_t) -1, g->gr_gid) < 0) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = qc->name }, errno, NULL,
                         "cannot give outbox files the group %s (%m): the daemon must be a member of it and may "
                         "change groups (under systemd: SupplementaryGroups= and SystemCallFilter=@chown); "
                         "outbox files keep the daemon's group", qc->group);
                return;
        }
        q->gid = g->gr_gid;
}

struct queue *spool_queue_new(struct spool *s, const struct queue_config *qc) {
        struct queue *q = xcalloc(1, sizeof(*q));
        char *finished;
        int r;

        q->spool = s;
        q->cfg = qc;
        q->name = xstrdup(qc->name);
        q->outbox_fd = -1;
        q->gid = (gid_t) -1;    /* spool_queue_set_config() looks it up once the outbox is there */
        q->state_path = xasprintf("%s/%s", s->config->state_dir, qc->name);
        q->claims_path = xasprintf("%s/claims/%s", q->state_path, s->instance);
        finished = xasprintf("%s/finished", q->state_path);
        r = fs_mkdir_p(q->claims_path, 0700);
        if (r == 0)
                r = fs_mkdir_p(finished, 0700);
        if (r == 0)
                r = fs_mkdirat_p_owned(AT_FDCWD, qc->outbox, qc->dir_mode, q->gid);
        if (r == 0) {
                q->outbox_fd = open(qc->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (q->outbox_fd < 0)
                        r = -errno;
        }
        free(finished);
        if (r == 0)
                spool_queue_set_config(q, qc);
        if (r < 0) {
                log_full(LOG_ERR, &(struct log_ctx) { .queue = qc->name }, -r, NULL,
                         "cannot set up queue directories (%s, %s): %s", q->claims_path, qc->outbox, strerror(-r));
                free(q->name);
                free(q->state_path);
                free(q->claims_path);
                free(q);
                return NULL;
        }
        struct queue **p = &s->queues;
        while (*p)
                p = &(*p)->next;
        *p = q;
        return q;
}

static void queue_free(struct queue *q) {
        for (struct batch_load *l = batch_loads, *next; l; l = next) {
                next = l->next;
                if (l->queue == q)
                        batch_load_free(l);
        }
        while (q->batches) {
                struct batch *b = q->batches;
                q->batches = b->next;
                spool_batch_free(b);
        }
        if (q->outbox_fd >= 0)
                close(q->outbox_fd);
        free(q->defer_reason);
        free(q->drops_wait);
        sd_event_source_disable_unref(q->defer_timer);
        free(q->name);
        free(q->state_path);
        free(q->claims_path);
        free(q);
}

void spool_queue_remove(struct queue *q) {
        for (struct queue **p = &q->spool->queues; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        break;
                }
        queue_free(q);
}

/* One finished batch: does its outbox status say what final.json recorded? */
static void check_finished(struct queue *q, const char *finished, const char *claim) {
        struct log_ctx ctx = { .queue = q->name };
        char *path = xasprintf("%s/%s/final.json", finished, claim), *text = NULL, *id = NULL, *st_path = NULL;
        json_t *rec = NULL, *now = NULL;
        int r = fs_read_file(AT_FDCWD, path, 256 << 20, &text, NULL);

        if (r < 0)
                goto out; /* ENOENT: finished by an older version, nothing to check against */
        rec = json_loads(text, 0, NULL);
        free(text);
        text = NULL;
        id = rec ? names_from_json_exact(json_object_get(rec, "id")) : NULL;
        json_t *status = rec ? json_object_get(rec, "status") : NULL;
        if (!id || !json_is_object(status))
                goto out;
        ctx.batch = id;
        struct stat st;
        if (fstatat(q->outbox_fd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
                goto out; /* the folder is gone (removed by a person), or cannot be looked at: left alone */
        /* What a publisher child killed midway left on top of it (parts catalog,
         * summary page): nothing of ours writes there before the start is over. */
        fs_remove_temps(q->outbox_fd, id, false);
        st_path = xasprintf("%s/" STATUS_FILE, id);
        r = fs_read_file(q->outbox_fd, st_path, 256 << 20, &text, NULL);
        if (r < 0 && r != -ENOENT)
                goto out; /* could not look: no answer */
        now = r == 0 ? json_loads(text, 0, NULL) : NULL;
        if (now && json_equal(json_object_get(now, "state"), json_object_get(status, "state")) &&
            json_equal(json_object_get(now, "jobs"), json_object_get(status, "jobs")))
                goto out;
        r = status_write_json(q->outbox_fd, st_path, status, q->cfg->file_mode, q->gid);
        log_full(r < 0 ? LOG_WARNING : LOG_NOTICE, &ctx, -r, NULL,
                 r < 0 ? "the outbox status of a finished batch disagrees with its record and cannot be rewritten: %s"
                       : "the outbox status of a finished batch %s its record: rewritten",
                 r < 0 ? strerror(-r) : now ? "disagreed with" : "was missing or unreadable against");
out:
        json_decref(now);
        json_decref(rec);
        free(st_path);
        free(text);
        free(id);
        free(path);
}

int spool_claim_reject(struct queue *q, const char *claim, const char *name, const char *reason) {
        struct log_ctx ctx = { .queue = q->name };
        char *dir = xasprintf("%s/rejected", q->state_path);
        char *from = xasprintf("%s/%s", q->claims_path, claim), *to = xasprintf("%s/%s", dir, claim);
        int r = fs_mkdir_p(dir, 0700);

        if (r == 0 && rename(from, to) < 0)
                r = -errno;
        if (r == 0)
                (void) fs_fsync_dir(AT_FDCWD, dir);
        if (r < 0) {
                log_full(LOG_ERR, &ctx, -r, NULL, "cannot set aside claim %s over the queue's limits: %s", from,
                         strerror(-r));
                goto out;
        }
        char *why = xasprintf("%s: rejected as a whole; its files are kept in %s", reason, to);
        log_full(LOG_WARNING, &ctx, 0, MSGID_DROP_REJECTED, "drop %s rejected: %s", name, why);
        /* <outbox>/rejected/<name>.status.json, as for a file intake rejects. */
        char buf[40];
        json_t *j = json_pack("{s:o,s:s,s:s,s:s,s:s,s:b}", "file", names_to_json_display(name), "queue", q->name,
                              "state", "rejected", "reason", why, "rejected",
                              format_rfc3339(buf, sizeof(buf), now_usec(CLOCK_REALTIME)), "kept", false);
        int k = fs_mkdirat_p_owned(q->outbox_fd, "rejected", q->cfg->dir_mode, q->gid);
        for (unsigned i = 1; k == 0 && i < 1000; i++) {
                char *base = i == 1 ? xstrdup(name) : names_with_suffix(name, i, true);
                char *st = xasprintf("rejected/%.200s.status.json", base);
                free(base);
                if (faccessat(q->outbox_fd, st, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                        free(st);
                        continue;
                }
                k = status_write_json(q->outbox_fd, st, j, q->cfg->file_mode, q->gid);
                free(st);
                break;
        }
        if (k < 0)
                log_full(LOG_WARNING, &ctx, -k, NULL, "cannot write the status of rejected drop %s: %s", name,
                         strerror(-k));
        json_decref(j);
        free(why);
out:
        free(to);
        free(from);
        free(dir);
        return r;
}

int spool_check_finished(struct queue *q) {
        char *finished = xasprintf("%s/finished", q->state_path);
        char **names = NULL;
        size_t n = 0;
        int r = list_claims(finished, &names, &n);

        /* A batch's ZIP in the making when the daemon died (export.c's temp name). */
        fs_remove_temps(q->outbox_fd, ".", false);
        for (size_t i = 0; i < n; i++) {
                check_finished(q, finished, names[i]);
                free(names[i]);
                notify_progress();
        }
        free(names);
        free(finished);
        return r == -ENOENT ? 0 : r;
}

void spool_free(struct spool *s) {
        if (!s)
                return;
        while (s->queues) {
                struct queue *q = s->queues;
                s->queues = q->next;
                queue_free(q);
        }
        sd_event_source_unref(s->status_timer);
        sd_event_unref(s->event);
        free(s->instance);
        free(s);
}

/* ---- requests: cancel, retry, hold, delete (pdfspoolctl, share-side files) ---- */

struct batch *spool_batch_find(struct spool *s, const char *queue, const char *id) {
        for (struct queue *q = s->queues; q; q = q->next)
                if (!queue || strcmp(q->name, queue) == 0)
                        for (struct batch *b = q->batches; b; b = b->next)
                                if (strcmp(b->id, id) == 0)
                                        return b;
        return NULL;
}

/* The id a finished claim's records name: final.json (small), else batch.json. */
static int finished_claim_id(const char *claim_path, char **ret) {
        static const char *const records[] = { "final.json", "batch.json" };
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(records) && r == -ENOENT; i++) {
                char *path = xasprintf("%s/%s", claim_path, records[i]), *text = NULL;
                r = fs_read_file(AT_FDCWD, path, 256 << 20, &text, NULL);
                free(path);
                if (r < 0)
                        continue;
                json_t *j = json_loads(text, 0, NULL);
                free(text);
                char *id = names_from_json_exact(json_object_get(j, "id"));
                json_decref(j);
                if (!id)
                        return -EBADMSG;
                *ret = id;
        }
        return r;
}

int spool_finished_find(struct spool *s, const char *queue, const char *id, struct queue **ret_q, char **ret_claim) {
        int result = -ENOENT;

        for (struct queue *q = s->queues; q; q = q->next) {
                if ((queue && strcmp(q->name, queue) != 0) || q->removed)
                        continue;
                char *finished = xasprintf("%s/finished", q->state_path);
                char **names = NULL;
                size_t n = 0;
                int r = list_claims(finished, &names, &n);
                if (r < 0 && r != -ENOENT)
                        result = r; /* could not look: not "no such batch" */
                for (size_t i = 0; i < n; i++) {
                        char *path = xasprintf("%s/%s", finished, names[i]), *got = NULL;
                        int k = finished_claim_id(path, &got);
                        free(path);
                        if (k == 0 && strcmp(got, id) == 0 && result != 0) {
                                *ret_q = q;
                                *ret_claim = xstrdup(names[i]);
                                result = 0;
                        } else if (k < 0 && k != -ENOENT && k != -EBADMSG && result == -ENOENT)
                                result = k;
                        free(got);
                        free(names[i]);
                }
                free(names);
                free(finished);
        }
        return result;
}

int spool_batch_reopen(struct queue *q, const char *claim, struct batch **ret) {
        char *from = xasprintf("%s/finished/%s", q->state_path, claim);
        char *to = xasprintf("%s/%s", q->claims_path, claim);
        char *final = xasprintf("%s/final.json", to);
        int r = rename(from, to) < 0 ? -errno : 0;

        /* Back among the claims before anything else: a crash from here on resumes
         * it, and a batch with nothing left to do simply finishes again. */
        if (r == 0)
                r = fs_fsync_dir(AT_FDCWD, q->claims_path);
        if (r == 0 && unlink(final) < 0 && errno != ENOENT)
                r = -errno;
        free(final);
        free(from);
        free(to);
        if (r < 0)
                return r;
        struct batch *b;
        r = load_batch(q, claim, &b);
        if (r < 0)
                return r;
        b->keep_open = true; /* the caller retries jobs in it, then lets it finish */
        /* It finished when its last job did: if nothing is retried after all, it
         * is put away again as it was, not finished a second time. */
        for (size_t i = 0; i < b->n_jobs; i++)
                if (b->jobs[i].finished > b->finished)
                        b->finished = b->jobs[i].finished;
        batch_link(q, b);
        *ret = b;
        return 0;
}

/* The jobs named (by job folder or source path), or every job when N is 0.
 * -ENOENT with the first unknown name in *RET_UNKNOWN. */
static int select_jobs(struct batch *b, char *const *names, size_t n, bool **ret, const char **ret_unknown) {
        bool *sel = xcalloc(b->n_jobs + 1, sizeof(bool));

        for (size_t k = 0; k < n; k++) {
                bool found = false;
                for (size_t i = 0; i < b->n_jobs; i++)
                        if (strcmp(b->jobs[i].name, names[k]) == 0 || strcmp(b->jobs[i].source, names[k]) == 0)
                                sel[i] = found = true;
                if (!found) {
                        free(sel);
                        *ret_unknown = names[k];
                        return -ENOENT;
                }
        }
        for (size_t i = 0; n == 0 && i < b->n_jobs; i++)
                sel[i] = true;
        *ret = sel;
        return 0;
}

/* Rewrite the status files (and records) of the jobs a request changed, in
 * slices like any projection; the batch is not put away before it is done. */
static void project_stale(struct batch *b) {
        if (!b->projection_pending)
                b->projection_stale_only = true; /* else the pass under way writes them too */
        b->projection_next = 0;
        write_projection(b);
}

static int sync_job_records(const struct batch *b) {
        char *jobs = xasprintf("%s/jobs", b->claim_path);
        int r = fs_fsync_dir(AT_FDCWD, jobs);
        free(jobs);
        return r;
}

/* Cancel: what must survive a crash is written before anything changes in
 * memory, and costs little whatever the batch's size: for the whole batch,
 * the records of its queued jobs go (a job without a record never started)
 * and control.json says "canceled", so that every job without a record loads
 * as canceled; for named jobs, their records. Status files follow in slices. */
int spool_batch_cancel(struct batch *b, char *const *names, size_t n, struct spool_cancel *ret) {
        bool *sel, removed = false;
        int r = select_jobs(b, names, n, &sel, &ret->unknown);

        if (r < 0)
                return r;
        ret->canceled = ret->n_running = 0;
        ret->running = xcalloc(b->n_jobs + 1, sizeof(struct job *));
        b->keep_open = true;
        for (size_t i = 0; n == 0 && r == 0 && i < b->n_jobs; i++)
                if (b->jobs[i].state == JOB_QUEUED && b->jobs[i].has_record) {
                        r = remove_job_record(&b->jobs[i]);
                        removed = true;
                }
        if (r == 0 && removed)
                r = sync_job_records(b);
        if (r == 0 && n == 0 && !b->canceled) {
                b->canceled = true;
                r = write_batch_control(b);
                if (r < 0)
                        b->canceled = false;
        }
        uint64_t now = now_usec(CLOCK_REALTIME);
        for (size_t i = 0; r == 0 && i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                if (!sel[i])
                        continue;
                if (j->state == JOB_PROCESSING) {
                        ret->running[ret->n_running++] = j; /* the pool stops it, then it ends canceled */
                        continue;
                }
                if (j->state != JOB_QUEUED)
                        continue;
                char *old_error = j->error;
                j->state = JOB_CANCELED;
                j->error = xstrdup(CANCELED_REASON);
                j->finished = now;
                if (n > 0 && (r = write_job_record(j)) < 0) {
                        free(j->error);
                        j->error = old_error;
                        j->state = JOB_QUEUED;
                        j->finished = 0;
                        break;
                }
                free(old_error);
                j->stale = true;
                b->counts[JOB_QUEUED]--;
                b->counts[JOB_CANCELED]++;
                ret->canceled++;
        }
        free(sel);
        if (ret->canceled > 0) {
                log_full(LOG_INFO, &(struct log_ctx) { .queue = b->queue->name, .batch = b->id, .state = "canceled" },
                         0, NULL, "%zu queued job%s canceled", ret->canceled, ret->canceled == 1 ? "" : "s");
                project_stale(b);
        }
        mark_dirty(b);
        return r;
}

/* Retry: the records of the jobs retried go (no record: queued, and in a
 * canceled batch canceled, so the batch's "canceled" goes after them; jobs of
 * it that stay canceled get a record first). Their status files and records
 * (with the attempts kept) follow in slices. */
int spool_batch_retry(struct batch *b, char *const *names, size_t n, size_t *ret_n, size_t *ret_n_unretryable,
                      const char **ret_unknown) {
        bool *sel;
        int r = select_jobs(b, names, n, &sel, ret_unknown);

        if (r < 0)
                return r;
        *ret_n = *ret_n_unretryable = 0;
        b->keep_open = true;
        for (size_t i = 0; r == 0 && i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                bool retried = sel[i] && (j->state == JOB_FAILED || j->state == JOB_CANCELED) &&
                               !j->failed_at_registration;
                if (retried && j->has_record)
                        r = remove_job_record(j);
                else if (!retried && b->canceled && j->state == JOB_CANCELED && !j->has_record)
                        r = write_job_record(j);
        }
        if (r == 0)
                r = sync_job_records(b);
        if (r == 0 && b->canceled) {
                b->canceled = false;
                r = write_batch_control(b);
                if (r < 0)
                        b->canceled = true;
        }
        for (size_t i = 0; r == 0 && i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                if (!sel[i] || (j->state != JOB_FAILED && j->state != JOB_CANCELED))
                        continue;
                if (j->failed_at_registration) {
                        (*ret_n_unretryable)++;
                        continue;
                }
                b->counts[j->state]--;
                b->counts[JOB_QUEUED]++;
                j->state = JOB_QUEUED;
                free(j->error);
                j->error = NULL;
                j->finished = 0;
                j->stale = true;
                if (j->index < b->next_job)
                        b->next_job = j->index;
                (*ret_n)++;
        }
        free(sel);
        if (*ret_n > 0) {
                b->finished = 0;
                project_stale(b);
        }
        mark_dirty(b);
        return r;
}

int spool_batch_set_held(struct batch *b, bool held, const char *why) {
        bool old = b->held, old_allowed = b->pages_allowed;
        char *old_why = b->held_why;
        int r;

        if (old == held)
                return 0;
        b->held = held;
        b->held_why = held && why ? xstrdup(why) : NULL;
        if (!held && old_why)
                b->pages_allowed = true; /* a person saw why and let it go on */
        r = write_batch_control(b);
        if (r < 0) {
                free(b->held_why);
                b->held = old;
                b->held_why = old_why;
                b->pages_allowed = old_allowed;
        } else {
                free(old_why);
                mark_dirty(b);
        }
        return r;
}

int spool_batch_set_priority(struct batch *b, int priority) {
        int old = b->priority, r;

        if (old == priority)
                return 0;
        b->priority = priority;
        r = write_batch_control(b);
        if (r < 0)
                b->priority = old;
        else
                mark_dirty(b);
        return r;
}

void spool_batch_done_with(struct batch *b) {
        b->keep_open = false;
        batch_finish_if_done(b); /* may free B */
}

#define DELETED_PREFIX ".pdfspool-deleted."

/* <state>/<queue>/deleted/<claim>: a batch deleted. Its outbox folder was
 * renamed to DELETED_PREFIX<claim> (hidden: no reader lists it); that goes,
 * then the records and the drop. BY_ID (at start, before any batch is loaded):
 * a crash may have come between the two renames, so the folder named by the
 * records' id goes too. */
static int purge_deleted_claim(struct queue *q, const char *deleted, const char *claim, bool by_id) {
        char *hidden = xasprintf(DELETED_PREFIX "%s", claim), *id = NULL;
        int r = fs_remove_tree(q->outbox_fd, hidden);

        free(hidden);
        if (r < 0 && r != -ENOENT)
                return r;
        if (by_id) {
                char *path = xasprintf("%s/%s", deleted, claim);
                r = finished_claim_id(path, &id);
                free(path);
                if (r < 0 && r != -ENOENT && r != -EBADMSG)
                        return r;
                r = id ? fs_remove_tree(q->outbox_fd, id) : 0;
                free(id);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        (void) fs_fsync_dir(q->outbox_fd, ".");
        int dfd = open(deleted, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? -errno : fs_remove_tree(dfd, claim);
        if (dfd >= 0)
                close(dfd);
        return r == -ENOENT ? 0 : r;
}

int spool_purge_deleted(struct queue *q, bool at_start) {
        char *deleted = xasprintf("%s/deleted", q->state_path);
        char **names = NULL;
        size_t n = 0;
        int r = list_claims(deleted, &names, &n), k;

        for (size_t i = 0; i < n; i++) {
                k = purge_deleted_claim(q, deleted, names[i], at_start);
                if (k < 0) {
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -k, NULL,
                                 "cannot remove deleted batch %s/%s: %s; tried again at the next start", deleted,
                                 names[i], strerror(-k));
                        r = k;
                }
                free(names[i]);
        }
        free(names);
        free(deleted);
        return r == -ENOENT ? 0 : r;
}

int spool_finished_before(struct queue *q, uint64_t before, char ***ret_claims, char ***ret_ids, size_t *ret_n) {
        char *finished = xasprintf("%s/finished", q->state_path);
        char **names = NULL, **claims = NULL, **ids = NULL;
        size_t n = 0, k = 0;
        int r = list_claims(finished, &names, &n);

        for (size_t i = 0; i < n; i++) {
                char *path = xasprintf("%s/%s/final.json", finished, names[i]), *text = NULL;
                json_t *rec = fs_read_file(AT_FDCWD, path, 256 << 20, &text, NULL) == 0 ? json_loads(text, 0, NULL) : NULL;
                char *id = rec ? names_from_json_exact(json_object_get(rec, "id")) : NULL;
                const char *when = json_string_value(json_object_get(json_object_get(rec, "status"), "finished"));
                uint64_t t = 0;
                /* Only what says when it finished and who it is: a batch that cannot
                 * be judged is kept. */
                if (id && when && parse_rfc3339(when, &t) == 0 && t < before) {
                        claims = xrealloc(claims, (k + 1) * sizeof(char *));
                        ids = xrealloc(ids, (k + 1) * sizeof(char *));
                        claims[k] = xstrdup(names[i]);
                        ids[k++] = id;
                        id = NULL;
                }
                free(id);
                json_decref(rec);
                free(text);
                free(path);
                free(names[i]);
        }
        free(names);
        free(finished);
        *ret_claims = claims;
        *ret_ids = ids;
        *ret_n = k;
        return r == -ENOENT ? 0 : r;
}

int spool_batch_delete(struct queue *q, struct batch *b, const char *claim, const char *id) {
        char *deleted = xasprintf("%s/deleted", q->state_path);
        char *from = b ? xstrdup(b->claim_path) : xasprintf("%s/finished/%s", q->state_path, claim);
        char *to = xasprintf("%s/%s", deleted, b ? b->claim : claim);
        char *hidden = xasprintf(DELETED_PREFIX "%s", b ? b->claim : claim);
        int r = fs_mkdir_p(deleted, 0700);

        /* One rename decides it: out of the claims and the finished batches, so
         * that neither recovery nor a check brings it back. Then its outbox
         * folder leaves every reader's view in one more; the files go later. */
        if (r == 0 && rename(from, to) < 0)
                r = -errno;
        if (r == 0)
                r = fs_fsync_dir(AT_FDCWD, deleted);
        if (r == 0 && renameat(q->outbox_fd, b ? b->id : id, q->outbox_fd, hidden) < 0 && errno != ENOENT)
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b ? b->id : id }, errno, NULL,
                         "a deleted batch's outbox folder cannot be renamed: %m; it is removed at the next start");
        else if (r == 0)
                (void) fs_fsync_dir(q->outbox_fd, ".");
        if (r == 0) {
                /* Its automatic ZIP (zip: on), the daemon's own file beside it. */
                char *zip = xasprintf("%s.zip", b ? b->id : id);
                if (unlinkat(q->outbox_fd, zip, 0) < 0 && errno != ENOENT)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b ? b->id : id }, errno,
                                 NULL, "cannot remove %s: %m", zip);
                free(zip);
        }
        free(hidden);
        free(from);
        free(to);
        free(deleted);
        if (r < 0)
                return r;
        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name, .batch = b ? b->id : id }, 0, NULL,
                 "batch deleted: its outbox folder and state are removed");
        if (b) {
                for (struct batch **p = &q->batches; *p; p = &(*p)->next)
                        if (*p == b) {
                                *p = b->next;
                                break;
                        }
                spool_batch_free(b);
        }
        return 0;
}
