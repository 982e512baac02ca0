/* filters.c: a job's external filters, one child after the other (see filters.h). */
#include "filters.h"
#include "hooks.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULT_MAX_BYTES (1024 * 1024) /* of a filter's result.json */

struct filter_run {
        sd_event *event;
        struct job *job;
        unsigned pages;
        size_t next;            /* index into job->profile->filters */
        int log_fd;             /* log.txt in the job's temp folder */
        int dir_fd;             /* the job's temp folder */
        uint64_t deadline;      /* CLOCK_MONOTONIC usec: the job's timeout */
        uint64_t started;       /* of the running filter */
        uint64_t timeout_usec;  /* the job's whole timeout, for its reason */
        char *input, *out_dir;
        filters_done_fn done;
        void *userdata;
        struct filter_run *next_run;
};

static struct filter_run *runs;

static struct log_ctx run_ctx(const struct filter_run *f) {
        const struct job *j = f->job;
        return (struct log_ctx) { .queue = j->batch->queue->name, .batch = j->batch->id, .job = j->name };
}

static void run_free(struct filter_run *f) {
        for (struct filter_run **p = &runs; *p; p = &(*p)->next_run)
                if (*p == f) {
                        *p = f->next_run;
                        break;
                }
        if (f->log_fd >= 0)
                close(f->log_fd);
        if (f->dir_fd >= 0)
                close(f->dir_fd);
        sd_event_unref(f->event);
        free(f->input);
        free(f->out_dir);
        free(f);
}

static void run_end(struct filter_run *f, enum job_state state, const char *error) {
        struct job *j = f->job;
        filters_done_fn done = f->done;
        void *userdata = f->userdata;
        unsigned pages = f->pages;

        run_free(f);
        done(j, state, pages, error, userdata);
}

/* A filter's result.json: merged into the job's "filter" object. Returns 0,
 * or a reason (static text) why it is refused. */
static const char *merge_result(struct filter_run *f) {
        struct stat st;
        json_error_t err;
        json_t *o;
        int fd = openat(f->dir_fd, OUTPUT_FILTER_RESULT, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

        if (fd < 0)
                return errno == ENOENT ? NULL : "its result.json cannot be read";
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > RESULT_MAX_BYTES) {
                close(fd);
                return "its result.json is not a regular file of at most 1 MiB";
        }
        o = json_loadfd(fd, 0, &err);
        close(fd);
        if (!json_is_object(o)) {
                json_decref(o);
                return "its result.json is not a JSON object";
        }
        if (!f->job->filter)
                f->job->filter = json_object();
        (void) json_object_update(f->job->filter, o);
        json_decref(o);
        return NULL;
}

static void run_next(struct filter_run *f);

static void on_filter_done(int status, const char *last_line, void *userdata) {
        struct filter_run *f = userdata;
        const struct profile_filter *pf = &f->job->profile->filters[f->next - 1];
        uint64_t now = now_usec(CLOCK_MONOTONIC), ran = now - f->started;
        struct log_ctx ctx = run_ctx(f);
        char *reason = NULL;

        if (status == 0) {
                const char *why = merge_result(f);
                if (!why) {
                        log_full(LOG_DEBUG, &ctx, 0, NULL, "filter %s done", pf->name);
                        run_next(f);
                        return;
                }
                reason = xasprintf("filter %s: %s", pf->name, why);
        } else if (status < 0 && now + USEC_PER_SEC / 10 >= f->deadline)
                reason = xasprintf("timed out: still running after %" PRIu64 " s (job_timeout); filter %s was stopped",
                                   f->timeout_usec / USEC_PER_SEC, pf->name);
        else if (status < 0 && pf->timeout_usec && ran + USEC_PER_SEC / 10 >= pf->timeout_usec)
                reason = xasprintf("filter %s timed out after %" PRIu64 " s", pf->name, pf->timeout_usec / USEC_PER_SEC);
        else if (status < 0) {
                const char *name = sigabbrev_np(-status);
                reason = xasprintf("filter %s killed by SIG%s", pf->name, name ? name : "?");
        } else
                reason = *last_line ? xasprintf("filter %s failed with exit status %d: %s", pf->name, status, last_line)
                                    : xasprintf("filter %s failed with exit status %d", pf->name, status);
        run_end(f, JOB_FAILED, reason);
        free(reason);
}

/* The next filter whose "when" matches, or the end. */
static void run_next(struct filter_run *f) {
        const struct job *j = f->job;
        const struct profile *pr = j->profile;

        while (f->next < pr->n_filters && !profile_when_matches(pr->filters[f->next].when, j->text_layer))
                f->next++;
        if (f->next >= pr->n_filters) {
                run_end(f, JOB_DONE, NULL);
                return;
        }
        const struct profile_filter *pf = &pr->filters[f->next++];
        uint64_t now = now_usec(CLOCK_MONOTONIC), left = f->deadline > now ? f->deadline - now : 1;
        uint64_t timeout = pf->timeout_usec && pf->timeout_usec < left ? pf->timeout_usec : left;
        struct stat st;
        uint64_t room = fstat(f->log_fd, &st) == 0 && (uint64_t) st.st_size < PROFILE_LOG_MAX_BYTES
                        ? PROFILE_LOG_MAX_BYTES - (uint64_t) st.st_size : 0;
        char *header = xasprintf("== filter %s ==\n", pf->name);
        char *env[] = {
                xasprintf("PDFSPOOL_INPUT=%s", f->input), xasprintf("PDFSPOOL_OUTDIR=%s", f->out_dir),
                xasprintf("PDFSPOOL_BATCH=%s", j->batch->id), xasprintf("PDFSPOOL_JOB=%s", j->name),
                xasprintf("PDFSPOOL_QUEUE=%s", j->batch->queue->name),
                xasprintf("PDFSPOOL_TEXT_LAYER=%s", j->text_layer ? j->text_layer : "none"), NULL,
        };
        char *what = xasprintf("filter %s", pf->name);

        if (room > strlen(header))
                (void) !write(f->log_fd, header, strlen(header));
        f->started = now;
        /* 1 byte at least: output_max 0 would mean "to the log" */
        int r = hooks_run(f->event, &(struct hook_spec) {
                .what = what, .queue = j->batch->queue->name, .batch = j->batch->id, .argv = pf->argv,
                .env = env, .timeout_usec = timeout, .cwd = f->out_dir, .output_fd = f->log_fd,
                .output_max = room > 1 ? room : 1, .done_line = on_filter_done, .userdata = f,
        });
        free(what);
        free(header);
        for (size_t i = 0; env[i]; i++)
                free(env[i]);
        if (r < 0) {
                char *reason = xasprintf("filter %s could not be started: %s", pf->name, strerror(-r));
                run_end(f, JOB_FAILED, reason);
                free(reason);
        }
}

size_t filters_matching(const struct job *j) {
        const struct profile *pr = j->profile;
        size_t matching = 0;

        for (size_t i = 0; pr && pr->on[PROFILE_FILTERS] && i < pr->n_filters; i++)
                matching += profile_when_matches(pr->filters[i].when, j->text_layer);
        return matching;
}

int filters_start(sd_event *e, struct job *j, unsigned pages, uint64_t timeout_usec, filters_done_fn done,
                  void *userdata) {
        const char *why = NULL;
        int r;

        if (filters_matching(j) == 0)
                return 1;

        struct filter_run *f = xcalloc(1, sizeof(*f));
        *f = (struct filter_run) {
                .event = sd_event_ref(e), .job = j, .pages = pages, .log_fd = -1, .dir_fd = -1,
                .deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec,
                .timeout_usec = j->batch->job_timeout_usec ? j->batch->job_timeout_usec
                                                           : j->batch->queue->spool->config->job_timeout_usec,
                .done = done, .userdata = userdata, .next_run = runs,
        };
        runs = f;
        r = spool_job_filter_paths(j, &f->input, &f->out_dir, &why);
        if (r == 0) {
                f->dir_fd = open(f->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = f->dir_fd < 0 ? -errno : 0;
        }
        if (r == 0) {
                f->log_fd = openat(f->dir_fd, OUTPUT_LOG, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                                   j->batch->queue->cfg->file_mode);
                r = f->log_fd < 0 ? -errno : 0;
        }
        if (r < 0) {
                run_free(f);
                return r;
        }
        run_next(f);
        return 0;
}

int filters_cancel(struct job *j) {
        for (struct filter_run *f = runs; f; f = f->next_run)
                if (f->job == j) {
                        struct log_ctx ctx = run_ctx(f);
                        log_full(LOG_NOTICE, &ctx, 0, NULL, "canceled by request: stopping its filter");
                        hooks_cancel(f);
                        run_end(f, JOB_CANCELED, "canceled by request while it ran");
                        return 0;
                }
        return -ENOENT;
}

void filters_stop_all(void) {
        while (runs) {
                struct filter_run *f = runs;
                hooks_cancel(f);
                run_end(f, JOB_QUEUED, NULL);
        }
}
