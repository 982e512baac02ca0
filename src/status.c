/* status.c: the outbox's status files, a projection of the spool's state. */
#include "status.h"
#include "fsutil.h"
#include "names.h"
#include "scheduler.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_or_null(uint64_t usec) {
        char buf[40];
        return usec ? json_string(format_rfc3339(buf, sizeof(buf), usec)) : json_null();
}

json_t *status_batch_json(const struct batch *b, uint64_t now) {
        size_t skipped = b->n_skipped;
        uint64_t end = b->finished ? b->finished : now;
        double elapsed = b->started && end > b->started ? (double) (end - b->started) / USEC_PER_SEC : 0;
        size_t ended = b->counts[JOB_DONE] + b->counts[JOB_FAILED] + b->counts[JOB_CANCELED];

        json_t *counts = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                                   "total", (json_int_t) (b->n_jobs + skipped),
                                   "queued", (json_int_t) b->counts[JOB_QUEUED],
                                   "processing", (json_int_t) b->counts[JOB_PROCESSING],
                                   "done", (json_int_t) b->counts[JOB_DONE],
                                   "failed", (json_int_t) b->counts[JOB_FAILED],
                                   "canceled", (json_int_t) b->counts[JOB_CANCELED],
                                   "skipped", (json_int_t) skipped);
        json_t *throughput = json_pack("{s:f,s:f,s:f}",
                                       "seconds", elapsed,
                                       "pages_per_second", elapsed > 0 ? (double) b->pages_done / elapsed : 0.0,
                                       "jobs_per_second", elapsed > 0 ? (double) ended / elapsed : 0.0);
        json_t *skipped_list = json_array();
        for (size_t i = 0; i < b->n_skipped; i++)
                json_array_append_new(skipped_list,
                                      json_pack("{s:o,s:s,s:o}",
                                                "source", names_to_json_display(b->skipped[i].source),
                                                "reason", b->skipped[i].reason,
                                                "kept_as", b->skipped[i].kept_as
                                                        ? names_to_json_display(b->skipped[i].kept_as)
                                                        : json_null()));
        /* Listed up to a bound, so that the batch status stays small enough to be
         * rewritten often (a manifest may name 100,000 missing files). */
        json_t *failures = json_array();
        size_t unlisted = 0;
        for (size_t i = 0; i < b->n_jobs; i++)
                if (b->jobs[i].state == JOB_FAILED && json_array_size(failures) >= STATUS_MAX_FAILURES_LISTED)
                        unlisted++;
                else if (b->jobs[i].state == JOB_FAILED)
                        json_array_append_new(failures,
                                              json_pack("{s:o,s:o,s:s}",
                                                        "job", names_to_json_display(b->jobs[i].name),
                                                        "source", names_to_json_display(b->jobs[i].source),
                                                        "error", b->jobs[i].error ? b->jobs[i].error : "failed"));

        json_t *j = json_pack("{s:o,s:s,s:s,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
                         "batch", names_to_json_display(b->id),
                         "queue", b->queue->name,
                         "state", batch_state_to_string(batch_state(b)),
                         "source", names_to_json_display(b->drop),
                         "jobs", counts,
                         "pages_done", (json_int_t) b->pages_done,
                         "created", time_or_null(b->created),
                         "started", time_or_null(b->started),
                         "finished", time_or_null(b->finished),
                         "updated", time_or_null(now),
                         "throughput", throughput,
                         "failures", failures,
                         "skipped", skipped_list);
        json_object_set_new(j, "held", json_boolean(b->held));
        if (b->held && b->held_why)
                json_object_set_new(j, "held_why", json_string(b->held_why));
        json_object_set_new(j, "labels", b->labels ? json_incref(b->labels) : json_object());
        if (unlisted > 0)
                json_object_set_new(j, "failures_not_listed", json_integer((json_int_t) unlisted));
        if (b->priority)
                json_object_set_new(j, "priority", json_integer(b->priority));
        /* Why no job starts: its time has not come. */
        uint64_t until;
        const char *waits = b->counts[JOB_QUEUED] > 0 ? sched_waits(b, now, &until) : NULL;
        if (waits) {
                char when[40];
                format_rfc3339(when, sizeof(when), until);
                char *why = strcmp(waits, "hours") == 0
                                    ? xasprintf("outside the queue's hours (%02u:%02u-%02u:%02u): jobs start at %s",
                                                b->queue->cfg->hours.start / 60, b->queue->cfg->hours.start % 60,
                                                b->queue->cfg->hours.end / 60, b->queue->cfg->hours.end % 60, when)
                                    : xasprintf("not before %s (the manifest's not_before)", when);
                json_object_set_new(j, "waits", json_pack("{s:s,s:s,s:s}", "reason", waits, "until", when,
                                                          "text", why));
                free(why);
        }
        /* Why nothing moves, when the spool's own resources are at fault. */
        if (queue_deferred(b->queue) && b->queue->defer_reason)
                json_object_set_new(j, "deferred", json_string(b->queue->defer_reason));
        return j;
}

json_t *status_job_json(const struct job *j, uint64_t now) {
        json_t *js = json_pack("{s:o,s:o,s:o,s:o,s:s,s:s,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:f}",
                         "job", names_to_json_display(j->name),
                         "batch", names_to_json_display(j->batch->id),
                         "source", names_to_json_display(j->source),
                         "original", names_to_json_display(j->original),
                         "queue", j->batch->queue->name,
                         "state", job_state_to_string(j->state),
                         "attempts", (json_int_t) j->attempts,
                         "error", j->error ? json_string(j->error) : json_null(),
                         "pages", (json_int_t) j->pages,
                         "created", time_or_null(j->batch->created),
                         "started", time_or_null(j->started),
                         "finished", time_or_null(j->finished),
                         "updated", time_or_null(now),
                         "seconds", j->seconds);
        /* Known once its outputs are made: absent before, so older readers see nothing new. */
        if (js && j->text_layer)
                json_object_set_new(js, "text_layer", json_string(j->text_layer));
        if (js && j->filter)
                json_object_set(js, "filter", j->filter);
        /* Where a processing job runs, when not here (an executor's word: slurm.c). */
        if (js && j->runner && j->state == JOB_PROCESSING)
                json_object_set_new(js, "runner", json_string(j->runner));
        return js;
}

int status_write_json(int dirfd, const char *name, json_t *j, unsigned mode, gid_t gid) {
        return fs_write_json(dirfd, name, j, mode, gid, FS_WRITE_PRETTY);
}

/* DIR/status.json in Q's outbox. The folders there are the daemon's to keep:
 * one that a person removed while its batch runs is made again, so that what
 * is still to come has a place (pdfspoold(8): the outbox). */
static int write_status_in(const struct queue *q, const char *dir, json_t *j, unsigned flags) {
        char *path = xasprintf("%s/" STATUS_FILE, dir);
        int r = fs_write_json(q->outbox_fd, path, j, q->cfg->file_mode, q->gid, FS_WRITE_PRETTY | flags);

        if (r == -ENOENT) {
                r = fs_mkdirat_p_owned(q->outbox_fd, dir, q->cfg->dir_mode, q->gid);
                if (r == 0)
                        r = fs_write_json(q->outbox_fd, path, j, q->cfg->file_mode, q->gid, FS_WRITE_PRETTY | flags);
        }
        free(path);
        return r;
}

int status_write_batch(const struct batch *b) {
        json_t *j = status_batch_json(b, now_usec(CLOCK_REALTIME));
        int r = write_status_in(b->queue, b->id, j, 0);
        json_decref(j);
        return r;
}

static int write_job_status_in(const struct job *j, const char *dir, unsigned flags) {
        json_t *js = status_job_json(j, now_usec(CLOCK_REALTIME));
        int r = write_status_in(j->batch->queue, dir, js, flags);
        json_decref(js);
        return r;
}

int status_write_job(const struct job *j, const char *dir) {
        return write_job_status_in(j, dir, 0);
}

int status_write_job_staged(const struct job *j, const char *tmp) {
        return write_job_status_in(j, tmp, FS_WRITE_STAGED);
}

/* A status file is a few KB; a batch summary of 100,000 jobs some MB. */
#define STATUS_LOAD_MAX (256u << 20)

json_t *status_load(int dirfd, const char *path) {
        char *text;
        size_t len;
        json_t *j;

        /* read whole: json_loadfd reads a byte per read(2) */
        if (fs_read_file(dirfd, path, STATUS_LOAD_MAX, &text, &len) < 0)
                return NULL;
        j = json_loadb(text, len, 0, NULL);
        free(text);
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

void status_collect_jobs(int dirfd, const char *prefix, json_t *out, int depth) {
        DIR *d = fs_opendir_at(dirfd, prefix[0] ? prefix : ".");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                /* Jobs may sit in hidden folders (a manifest's .upload/); only the
                 * daemon's own temp folders are not jobs. */
                if (fs_dot_or_dotdot(de->d_name) || strncmp(de->d_name, ".pdfspool-tmp.", 14) == 0 || de->d_type != DT_DIR || depth > 64)
                        continue;
                char *sub = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
                char *p = xasprintf("%s/" STATUS_FILE, sub);
                json_t *j = status_load(dirfd, p);
                if (j && json_object_get(j, "job"))
                        json_array_append_new(out, j);
                else
                        json_decref(j);
                status_collect_jobs(dirfd, sub, out, depth + 1);
                free(p);
                free(sub);
        }
        closedir(d);
}
