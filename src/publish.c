/* publish.c: what a batch gives people and tools as its jobs end, besides
 * its status files: the parts catalog and the summary page (rewritten while
 * it runs, throttled),
 * the ZIP when it finishes (zip: on), and the queue's hooks (job_failed,
 * batch_finished, after the page and the ZIP). All of it runs in children
 * (hooks.c): the event loop only starts them. What a child needs is copied
 * (an outbox fd of its own, names), so that a queue a reload retires
 * meanwhile does not pull anything from under it. */
#include "publish.h"
#include "catalog.h"
#include "export.h"
#include "fsutil.h"
#include "hooks.h"
#include "summary.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often the summary pages of running batches are rewritten at most:
 * often enough for people watching. A summary child that took T makes the
 * next wait at least 10 T, so that the pages of a batch of many thousand
 * jobs cost at most a tenth of a core. */
#define SUMMARY_INTERVAL_USEC (5 * USEC_PER_SEC)

struct publisher {
        sd_event *event;
        struct summary_due *summaries_due; /* batches whose summary page is behind */
        struct summary_due *summaries_due_running; /* being written by a child */
        sd_event_source *summary_timer;
        bool summary_running;
        uint64_t summary_started;      /* CLOCK_MONOTONIC of the running child's start */
        uint64_t summary_interval;     /* adapts: a slow page (a huge batch) is made less often */
        bool stopping;                 /* publish_drain: no new pages of running batches */
};

struct summary_due {
        int outbox_fd;
        char *batch;
        mode_t mode;
        gid_t gid;
        bool again;        /* its batch ended while a child wrote an older page: write it again */
        struct summary_due *next;
};

static void summaries_free(struct summary_due *list) {
        for (struct summary_due *e = list, *next; e; e = next) {
                next = e->next;
                if (e->outbox_fd >= 0)
                        close(e->outbox_fd);
                free(e->batch);
                free(e);
        }
}

/* The batch's parts catalog from its jobs' facts.json (catalog.c), in the
 * same child as its summary page: both read every job's folder. */
static int catalog_write(const struct summary_due *e) {
        int fd = openat(e->outbox_fd, e->batch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r = fd < 0 ? -errno : catalog_rebuild(fd, e->mode, e->gid);

        if (fd >= 0)
                close(fd);
        if (r < 0)
                fprintf(stderr, "cannot write the parts catalog of %s: %s\n", e->batch, strerror(-r));
        return r;
}

/* What a child killed midway (a stop, its timeout) left on top of the batch's
 * folder: the catalog's and the page's temps; with ZIP, the ZIP's in the outbox. */
static void remove_temps(const struct summary_due *e, bool zip) {
        fs_remove_temps(e->outbox_fd, e->batch, false);
        if (zip)
                export_remove_stale_temps(e->outbox_fd, e->batch);
}

static int summaries_child(void *data) {
        int failed = 0;

        for (struct summary_due *e = data; e; e = e->next)
                if (catalog_write(e) < 0 || summary_write(e->outbox_fd, e->batch, e->mode, e->gid) < 0)
                        failed = 1;
        return failed;
}

static void on_summaries_done(int status, void *userdata) {
        struct publisher *pub = userdata;

        uint64_t took = now_usec(CLOCK_MONOTONIC) - pub->summary_started;

        pub->summary_running = false;
        pub->summary_interval = 10 * took > SUMMARY_INTERVAL_USEC ? 10 * took : SUMMARY_INTERVAL_USEC;
        /* The list was the child's: the parent's copy goes, but for pages that
         * may now be older than the final one (written by on_batch_finished's child). */
        for (struct summary_due *e = pub->summaries_due_running, *next; e; e = next) {
                next = e->next;
                e->next = NULL;
                /* AGAIN: the batch's final page is being written by another child now: its temps stay. */
                if (status < 0 && !e->again)
                        remove_temps(e, false);
                if (e->again && !pub->stopping) {
                        e->again = false;
                        e->next = pub->summaries_due;
                        pub->summaries_due = e;
                } else
                        summaries_free(e);
        }
        pub->summaries_due_running = NULL;
        if (pub->summaries_due && pub->summary_timer && !pub->stopping) {
                (void) sd_event_source_set_time_relative(pub->summary_timer, pub->summary_interval);
                (void) sd_event_source_set_enabled(pub->summary_timer, SD_EVENT_ONESHOT);
        }
}

static int on_summary_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        struct publisher *pub = userdata;

        if (!pub->summaries_due || pub->summary_running)
                return 0;
        pub->summaries_due_running = pub->summaries_due;
        pub->summaries_due = NULL;
        pub->summary_running = true;
        pub->summary_started = now_usec(CLOCK_MONOTONIC);
        if (hooks_run(pub->event, &(struct hook_spec) {
                              .what = "summary pages", .fn = summaries_child, .fn_data = pub->summaries_due_running,
                              .timeout_usec = 10 * 60 * USEC_PER_SEC, .done = on_summaries_done, .userdata = pub }) < 0)
                on_summaries_done(-1, pub);
        return 0;
}

static void summary_due(struct publisher *pub, const struct batch *b) {
        struct summary_due **p = &pub->summaries_due;

        if (pub->stopping)
                return;
        for (; *p; p = &(*p)->next)
                if (strcmp((*p)->batch, b->id) == 0)
                        return;
        *p = xcalloc(1, sizeof(**p));
        (*p)->outbox_fd = fcntl(b->queue->outbox_fd, F_DUPFD_CLOEXEC, 3);
        (*p)->batch = xstrdup(b->id);
        (*p)->mode = b->queue->cfg->file_mode;
        (*p)->gid = b->queue->gid;
        if (!pub->summary_timer)
                (void) sd_event_add_time_relative(pub->event, &pub->summary_timer, CLOCK_MONOTONIC, SUMMARY_INTERVAL_USEC,
                                                  USEC_PER_SEC / 2, on_summary_timer, pub);
        if (pub->summary_timer && sd_event_source_get_enabled(pub->summary_timer, NULL) == 0 && !pub->summary_running) {
                (void) sd_event_source_set_time_relative(pub->summary_timer,
                                                         pub->summary_interval ? pub->summary_interval : SUMMARY_INTERVAL_USEC);
                (void) sd_event_source_set_enabled(pub->summary_timer, SD_EVENT_ONESHOT);
        }
}

static void summary_not_due(struct publisher *pub, const struct batch *b) {
        for (struct summary_due *e = pub->summaries_due_running; e; e = e->next)
                if (strcmp(e->batch, b->id) == 0)
                        e->again = true;
        for (struct summary_due **p = &pub->summaries_due; *p; p = &(*p)->next)
                if (strcmp((*p)->batch, b->id) == 0) {
                        struct summary_due *e = *p;
                        *p = e->next;
                        e->next = NULL;
                        summaries_free(e);
                        return;
                }
}

/* The environment a hook gets: what happened, to which batch, its counts. */
static char **hook_env(const struct batch *b, const char *event, const char *state, const struct job *j) {
        const struct queue *q = b->queue;
        char **env = xcalloc(20, sizeof(char *));
        size_t n = 0;

        env[n++] = xasprintf("PDFSPOOL_EVENT=%s", event);
        env[n++] = xasprintf("PDFSPOOL_QUEUE=%s", q->name);
        env[n++] = xasprintf("PDFSPOOL_BATCH=%s", b->id);
        env[n++] = xasprintf("PDFSPOOL_STATE=%s", state);
        env[n++] = xasprintf("PDFSPOOL_JOBS_TOTAL=%zu", b->n_jobs + b->n_skipped);
        env[n++] = xasprintf("PDFSPOOL_JOBS_DONE=%zu", b->counts[JOB_DONE]);
        env[n++] = xasprintf("PDFSPOOL_JOBS_FAILED=%zu", b->counts[JOB_FAILED]);
        env[n++] = xasprintf("PDFSPOOL_JOBS_CANCELED=%zu", b->counts[JOB_CANCELED]);
        env[n++] = xasprintf("PDFSPOOL_JOBS_SKIPPED=%zu", b->n_skipped);
        env[n++] = xasprintf("PDFSPOOL_PAGES=%" PRIu64, b->pages_done);
        if (q->spool->config->path) /* for pdfspoolctl -c in the hook */
                env[n++] = xasprintf("PDFSPOOL_CONFIG=%s", q->spool->config->path);
        env[n++] = xasprintf("PDFSPOOL_BATCH_DIR=%s/%s", q->cfg->outbox, b->id);
        env[n++] = xasprintf("PDFSPOOL_STATUS=%s/%s/" STATUS_FILE, q->cfg->outbox, b->id);
        env[n++] = xasprintf("PDFSPOOL_SUMMARY=%s/%s/" SUMMARY_FILE, q->cfg->outbox, b->id);
        if (q->cfg->zip)
                env[n++] = xasprintf("PDFSPOOL_ZIP=%s/%s.zip", q->cfg->outbox, b->id);
        if (j) {
                env[n++] = xasprintf("PDFSPOOL_JOB=%s", j->name);
                env[n++] = xasprintf("PDFSPOOL_JOB_STATUS=%s/%s/%s/" STATUS_FILE, q->cfg->outbox, b->id, j->name);
                env[n++] = xasprintf("PDFSPOOL_JOB_ERROR=%s", j->error ? j->error : "");
        }
        return env;
}

static void run_hook(struct publisher *pub, const struct batch *b, const char *event, char *const *argv, char **env) {
        char *what = xasprintf("hook %s", event);

        (void) hooks_run(pub->event, &(struct hook_spec) {
                .what = what, .queue = b->queue->name, .batch = b->id, .argv = argv, .env = env,
                .timeout_usec = b->queue->cfg->hook_timeout_usec });
        free(what);
        strv_free(env);
}

void publish_job_ended(struct publisher *pub, const struct job *j) {
        struct batch *b = j->batch;

        summary_due(pub, b);
        if (j->state == JOB_FAILED && b->queue->cfg->hook_job_failed)
                run_hook(pub, b, "job_failed", b->queue->cfg->hook_job_failed,
                         hook_env(b, "job_failed", job_state_to_string(j->state), j));
}

/* A finished batch: its last summary page, its ZIP, then its hook. */
struct finishing {
        struct publisher *pub;
        struct summary_due page;   /* the batch, its outbox, modes */
        bool zip;
        char *queue;
        char **hook, **env;
        uint64_t hook_timeout;
};

static int finishing_child(void *data) {
        struct finishing *f = data;
        char *error = NULL;
        int r = catalog_write(&f->page), k = summary_write(f->page.outbox_fd, f->page.batch, f->page.mode,
                                                            f->page.gid);

        if (k < 0) {
                fprintf(stderr, "cannot write the summary page: %s\n", strerror(-k));
                r = k;
        }
        if (f->zip && export_batch_zip_file(f->page.outbox_fd, f->page.batch, f->page.mode, f->page.gid, &error) < 0) {
                fprintf(stderr, "cannot write the batch's ZIP: %s\n", error);
                r = -EIO;
        }
        free(error);
        return r < 0 ? 1 : 0;
}

static void on_finishing_done(int status, void *userdata) {
        struct finishing *f = userdata;

        if (status < 0)
                remove_temps(&f->page, f->zip);
        if (f->hook) {
                char *what = xstrdup("hook batch_finished");
                (void) hooks_run(f->pub->event, &(struct hook_spec) {
                        .what = what, .queue = f->queue, .batch = f->page.batch, .argv = f->hook, .env = f->env,
                        .timeout_usec = f->hook_timeout });
                free(what);
        }
        close(f->page.outbox_fd);
        free(f->page.batch);
        free(f->queue);
        strv_free(f->hook);
        strv_free(f->env);
        free(f);
}

void publish_batch_finished(struct publisher *pub, const struct batch *b) {
        const struct queue *q = b->queue;
        struct finishing *f = xcalloc(1, sizeof(*f));
        const char *state = batch_state_to_string(batch_state(b));

        summary_not_due(pub, b);
        *f = (struct finishing) {
                .pub = pub,
                .page = { .outbox_fd = fcntl(q->outbox_fd, F_DUPFD_CLOEXEC, 3), .batch = xstrdup(b->id),
                          .mode = q->cfg->file_mode, .gid = q->gid },
                .zip = q->cfg->zip,
                .queue = xstrdup(q->name),
                .hook = strv_copy(q->cfg->hook_batch_finished),
                .env = q->cfg->hook_batch_finished ? hook_env(b, "batch_finished", state, NULL) : NULL,
                .hook_timeout = q->cfg->hook_timeout_usec,
        };
        if (hooks_run(pub->event, &(struct hook_spec) {
                              .what = q->cfg->zip ? "summary page and ZIP" : "summary page", .queue = q->name,
                              .batch = b->id, .fn = finishing_child, .fn_data = f,
                              .timeout_usec = 6 * 3600 * USEC_PER_SEC, .done = on_finishing_done, .userdata = f }) < 0)
                on_finishing_done(-1, f);
}

struct publisher *publish_new(sd_event *e) {
        struct publisher *p = xcalloc(1, sizeof(*p));

        p->event = sd_event_ref(e);
        return p;
}

void publish_drain(struct publisher *p, uint64_t grace_usec, void (*done)(void *userdata), void *userdata) {
        p->stopping = true;
        (void) sd_event_source_set_enabled(p->summary_timer, SD_EVENT_OFF);
        summaries_free(p->summaries_due);
        p->summaries_due = NULL;
        hooks_drain(p->event, grace_usec, done, userdata);
}

void publish_free(struct publisher *p) {
        if (!p)
                return;
        hooks_stop_all();
        sd_event_source_disable_unref(p->summary_timer);
        summaries_free(p->summaries_due);
        summaries_free(p->summaries_due_running);
        sd_event_unref(p->event);
        free(p);
}
