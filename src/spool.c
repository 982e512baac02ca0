/* spool.c: the on-disk state machine: claim, register, job transitions,
 * finish, and recovery after a stop or a crash. See spool.h for the layout. */
#include "spool.h"
#include "fsutil.h"
#include "claim.h"
#include "intake.h"
#include "log.h"
#include "register.h"
#include "names.h"
#include "notify.h"
#include "pool.h"
#include "status.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INTERRUPTED_ATTEMPTS 3
#define STATUS_DELAY_USEC (250 * USEC_PER_MSEC)
const char *const spool_job_outputs[] = { "meta.json", "text.txt", "thumb.png", NULL };

static const char *const job_state_names[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = "queued", [JOB_PROCESSING] = "processing", [JOB_DONE] = "done",
        [JOB_FAILED] = "failed", [JOB_CANCELED] = "canceled",
};

const char *job_state_to_string(enum job_state s) {
        return s < _JOB_STATE_MAX ? job_state_names[s] : "unknown";
}

static int job_state_from_string(const char *s) {
        for (int i = 0; i < _JOB_STATE_MAX; i++)
                if (s && strcmp(s, job_state_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *batch_state_to_string(enum batch_state s) {
        switch (s) {
        case BATCH_QUEUED: return "queued";
        case BATCH_PROCESSING: return "processing";
        case BATCH_DONE: return "done";
        case BATCH_CANCELED: return "canceled";
        }
        return "unknown";
}

enum batch_state batch_state(const struct batch *b) {
        size_t ended = b->counts[JOB_DONE] + b->counts[JOB_FAILED] + b->counts[JOB_CANCELED];
        if (ended == b->n_jobs)
                return b->counts[JOB_CANCELED] > 0 && b->counts[JOB_DONE] + b->counts[JOB_FAILED] == 0
                        ? BATCH_CANCELED : BATCH_DONE;
        if (b->started)
                return BATCH_PROCESSING;
        return BATCH_QUEUED;
}

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
        int r = fd < 0 ? -errno : fs_write_json(fd, name, j, 0600, (gid_t) -1, sync_dir, false);
        if (fd >= 0)
                close(fd);
        json_decref(j);
        return r;
}

static int write_job_record(const struct job *j) {
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
        int r = spool_write_record(dir, name, rec, false);
        free(name);
        free(dir);
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
        json_object_set_new(rec, "errors", errors);
        json_decref(error_index);
        return rec;
}

static void spool_schedule_status(struct spool *s);
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
        if (!b->projection_source)
                r = sd_event_add_defer(q->spool->event, &b->projection_source, on_projection_slice, b);
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
                if (j->state == JOB_DONE || j->state == JOB_FAILED || j->state == JOB_CANCELED) {
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
                if (r == 0)
                        r = status_write_job(j, dir);
                if (r < 0)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id, .job = j->name },
                                 -r, NULL, "cannot write the job's status file: %s", strerror(-r));
                free(dir);
                if (b->projection_next % 4096 == 4095)
                        notify_progress();
        }
        if (r == 0)
                r = status_write_batch(b);
        b->projection_next = 0;
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

/* What a crash left half-done in a batch's outbox folder: temp folders of jobs
 * and temp files of atomic writes. Readers never looked at them; they go. */
static void remove_stale_temp(int parent_fd, const char *path, int depth) {
        DIR *d = fs_opendir_at(parent_fd, path);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                if (de->d_name[0] != '.') {
                        if (de->d_type == DT_DIR && depth < 64)
                                remove_stale_temp(dirfd(d), de->d_name, depth + 1);
                        continue;
                }
                if (strncmp(de->d_name, ".pdfspool-tmp.", 14) == 0 || strstr(de->d_name, ".tmp-"))
                        (void) fs_remove_tree(dirfd(d), de->d_name);
        }
        closedir(d);
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

static int load_batch(struct queue *q, const char *claim, struct batch **ret);

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
int spool_batch_adopt(struct queue *q, const char *claim) {
        struct batch *b;
        int r = load_batch(q, claim, &b);

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
        pool_kick(q->spool);
        return 0;
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

static int load_batch(struct queue *q, const char *claim, struct batch **ret) {
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
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                         "cannot read batch record %s: %s (line %d); left as it is", path, err.text, err.line);
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
        b->thumbnail_size = (unsigned) json_integer_value(json_object_get(rec, "thumbnail_size"));
        b->job_timeout_usec = (uint64_t) json_integer_value(json_object_get(rec, "job_timeout_usec"));
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
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                         "batch record %s/batch.json is damaged; left as it is", b->claim_path);
                spool_batch_free(b);
                return -EBADMSG;
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
                const char *e = json_string_value(json_object_get(jr, "error"));
                j->error = e ? xstrdup(e) : NULL;
                j->state = st < 0 ? JOB_QUEUED : (enum job_state) st;
                json_decref(jr);
                if (j->state == JOB_PROCESSING) {
                        /* The daemon stopped while this job ran: run it again, a few times at most. */
                        if (j->attempts >= MAX_INTERRUPTED_ATTEMPTS) {
                                j->state = JOB_FAILED;
                                free(j->error);
                                j->error = xasprintf("processing was interrupted %u times (the service stopped "
                                                     "or crashed while this file was being processed); not retried",
                                                     j->attempts);
                                j->finished = now_usec(CLOCK_REALTIME);
                                (void) write_job_record(j);
                        } else
                                j->state = JOB_QUEUED;
                }
                if (j->started && (!b->started || j->started < b->started))
                        b->started = j->started;
        }
        free(has_record);
        batch_count(b);
        *ret = b;
        return 0;
}


static int claim_dirs(const char *path, char ***ret, size_t *ret_n) {
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

static bool batch_loaded(const struct queue *q, const char *claim) {
        for (const struct batch *b = q->batches; b; b = b->next)
                if (strcmp(b->claim, claim) == 0)
                        return true;
        return false;
}

/* Every claim of this instance that is not in memory yet: resume its batch, or
 * finish its claim and register it. Idempotent: at start, and again whenever
 * work was deferred, so that a claim whose registration failed is retried. */
static int recover_queue(struct queue *q) {
        char **names = NULL;
        size_t n = 0;
        int r = claim_dirs(q->claims_path, &names, &n);

        if (r < 0) {
                if (r != -ENOENT)
                        (void) spool_defer(q, "cannot read the queue's claims", r);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                char *claim_path = xasprintf("%s/%s", q->claims_path, names[i]);
                char *rec = xasprintf("%s/batch.json", claim_path);
                struct stat st;
                if (batch_loaded(q, names[i]) || claim_unpacking(q, names[i]) || register_busy(q, names[i]))
                        ;
                else if (stat(rec, &st) < 0) {
                        if (errno == ENOENT) {
                                if (claim_recover(q, names[i]) == 0)
                                        (void) register_claim(q, names[i]);
                        } else
                                (void) spool_defer(q, "cannot look at a claim's batch record", errno);
                } else {
                        struct batch *b;
                        int k = load_batch(q, names[i], &b);
                        if (k < 0 && errno_is_transient(k))
                                (void) spool_defer(q, "cannot read a batch's records", k);
                        if (k == 0) {
                                /* Temp files of atomic writes a crash interrupted: the daemon's own. */
                                char *jobs_dir = xasprintf("%s/jobs", b->claim_path);
                                /* depth 64: these two folders only, never the drop in src/ */
                                remove_stale_temp(AT_FDCWD, b->claim_path, 64);
                                remove_stale_temp(AT_FDCWD, jobs_dir, 64);
                                free(jobs_dir);
                                remove_stale_temp(q->outbox_fd, b->id, 0);
                                write_projection(b);
                                log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name, .batch = b->id }, 0, NULL,
                                         "batch resumed: %zu of %zu jobs still to do", b->counts[JOB_QUEUED],
                                         b->n_jobs);
                                batch_link(q, b);
                                batch_finish_if_done(b);
                        }
                }
                free(rec);
                free(claim_path);
                free(names[i]);
                notify_progress();
        }
        free(names);
        return 0;
}

void spool_retry_queue(struct queue *q) {
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
        (void) recover_queue(q);
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
        if (!b->started)
                b->started = j->started;
        /* Not recorded, a crash runs the job again without counting the attempt: no harm. */
        r = write_job_record(j);
        if (r < 0)
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .batch = b->id, .job = j->name }, -r,
                         NULL, "cannot record that the job started: %s", strerror(-r));
        char *dir = job_dir(j);
        (void) fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
        (void) status_write_job(j, dir);
        free(dir);
        mark_dirty(b);

        *ret_pdf_path = job_source_path(j);
        *ret_out_dir = xasprintf("%s/%s", q->cfg->outbox, tmp);
        free(tmp);
        return 0;
}

/* Move every file of the temp folder into the job's folder, status last; each
 * gets the queue's file mode and group on the way. Any failure leaves the job
 * not done: the next attempt starts again from an empty temp folder. */
static int move_outputs(const struct queue *q, const char *tmp, const char *dir, const char **ret_what) {
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
        /* The worker fsync'ed its files; this also covers their directory entries. */
        if (syncfs(fd) < 0) {
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
                r = fs_set_owner(fd, de->d_name, q->cfg->file_mode, q->gid);
                if (r < 0) {
                        *ret_what = "cannot set the mode of an output";
                        break;
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
        kept = fd < 0 ? fd : fs_copy_fd(fd, q->outbox_fd, path, q->cfg->file_mode, q->gid, true);
        if (fd >= 0)
                close(fd);
        free(path);
        for (size_t k = 0; state != JOB_DONE && spool_job_outputs[k]; k++) {
                char *p = xasprintf("%s/%s", tmp, spool_job_outputs[k]);
                if (unlinkat(q->outbox_fd, p, 0) < 0 && errno != ENOENT && r == 0) {
                        r = -errno;
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

int spool_job_finish(struct job *j, enum job_state state, unsigned pages, const char *error) {
        struct batch *b = j->batch;
        struct queue *q = b->queue;
        struct spool *s = q->spool;
        char *tmp = job_tmp_dir(j), *dir = job_dir(j);
        struct log_ctx ctx = { .queue = q->name, .batch = b->id, .job = j->name };
        const char *what;
        int r;

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
        what = "cannot write the job's status file";
        r = status_write_job(j, tmp);
        if (r == 0) {
                what = "cannot create the job's folder in the outbox";
                r = fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
        }
        if (r == 0)
                r = move_outputs(q, tmp, dir, &what);
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

        ctx.state = job_state_to_string(state);
        if (state == JOB_FAILED)
                log_full(LOG_WARNING, &ctx, 0, MSGID_JOB_FAILED, "job failed: %s", j->error ? j->error : "failed");
        else
                log_full(LOG_INFO, &ctx, 0, NULL, "job %s: %u page%s in %.2f s", ctx.state, j->pages,
                         j->pages == 1 ? "" : "s", j->seconds);
        mark_dirty(b);
        batch_finish_if_done(b);
finish:
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

static int on_defer_over(sd_event_source *src, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        struct spool *s = q->spool;

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
        uint64_t left = until - now_usec(CLOCK_REALTIME);
        if (q->spool->event) {
                if (!q->defer_timer)
                        (void) sd_event_add_time_relative(q->spool->event, &q->defer_timer, CLOCK_MONOTONIC, left,
                                                          50 * USEC_PER_MSEC, on_defer_over, q);
                else
                        (void) sd_event_source_set_time_relative(q->defer_timer, left);
                (void) sd_event_source_set_enabled(q->defer_timer, SD_EVENT_ONESHOT);
        }
        return q->defer_reason;
}

bool spool_queue_deferred(const struct queue *q) {
        return q->defer_until && q->defer_until > now_usec(CLOCK_REALTIME);
}

void spool_queue_succeeded(struct queue *q) {
        if (spool_queue_deferred(q))
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
        /* The status must say so before the batch leaves memory: until both steps
         * worked, it stays, and a deferral tries again. */
        r = status_write_batch(b);
        if (r < 0) {
                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot write the batch status file: %s", strerror(-r));
                b->status_dirty = true;
                (void) spool_defer(q, "cannot write a finished batch's status file", r);
                return;
        }
        b->status_dirty = false;

        /* Out of the claims: recovery never looks at it again. */
        char *to = xasprintf("%s/finished/%s", q->state_path, b->claim);
        r = rename(b->claim_path, to) < 0 ? -errno : 0;
        if (r < 0) {
                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot move the finished batch to %s: %s", to, strerror(-r));
                (void) spool_defer(q, "cannot move a finished batch out of the claims", r);
        }
        free(to);
        if (r < 0)
                return;
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

int spool_recover(struct spool *s) {
        int r = 0;
        for (struct queue *q = s->queues; q; q = q->next) {
                int k = recover_queue(q);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

static void queue_free(struct queue *q) {
        while (q->batches) {
                struct batch *b = q->batches;
                q->batches = b->next;
                spool_batch_free(b);
        }
        if (q->outbox_fd >= 0)
                close(q->outbox_fd);
        free(q->hold_reason);
        free(q->defer_reason);
        sd_event_source_disable_unref(q->defer_timer);
        free(q->name);
        free(q->state_path);
        free(q->claims_path);
        free(q);
}

void spool_free(struct spool *s) {
        if (!s)
                return;
        while (s->queues) {
                struct queue *q = s->queues;
                s->queues = q->next;
                intake_stop(q);
                queue_free(q);
        }
        sd_event_source_unref(s->status_timer);
        sd_event_unref(s->event);
        free(s->instance);
        free(s);
}
