/* core-fixture.h: a real spool in a temp dir for the unit tests of the
 * daemon's core (spool, intake, claim, register, pool): a configuration
 * read from YAML the test writes, a real sd_event loop, the store with one
 * queue "q", and helpers to make drops, claims and batches the way the
 * daemon makes them. Header only, like tap.h; include it after tap.h. */
#pragma once
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "spool.h"
#include "util.h"

struct fixture {
        char *root;            /* the temp dir: state/, inbox/, outbox/ */
        char *inbox, *outbox;
        struct config *config;
        sd_event *event;
        struct spool *spool;
        struct queue *q;
};

static inline char *fx_path(const struct fixture *f, const char *fmt, ...) TAP_PRINTF(2, 3);
static inline char *fx_path(const struct fixture *f, const char *fmt, ...) {
        va_list ap;
        char *rel, *p;

        va_start(ap, fmt);
        if (vasprintf(&rel, fmt, ap) < 0)
                bail_out("out of memory");
        va_end(ap);
        p = xasprintf("%s/%s", f->root, rel);
        free(rel);
        return p;
}

/* Write CONTENT to PATH, making its parent folders. */
static inline void fx_write(const char *path, const char *content) {
        char *parent = xstrdup(path);
        char *slash = strrchr(parent, '/');
        FILE *fp;

        *slash = 0;
        if (fs_mkdir_p(parent, 0755) < 0 || !(fp = fopen(path, "we")))
                bail_out("cannot write %s: %m", path);
        fputs(content, fp);
        if (fclose(fp) != 0)
                bail_out("cannot write %s: %m", path);
        free(parent);
}

static inline bool fx_exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

/* The string KEY of the JSON object in PATH (a copy), or NULL. */
static inline char *fx_json_str(const char *path, const char *key) {
        json_t *j = json_load_file(path, 0, NULL);
        const char *v = json_string_value(json_object_get(j, key));
        char *r = v ? xstrdup(v) : NULL;

        json_decref(j);
        return r;
}

static inline bool fx_file_contains(const char *path, const char *needle) {
        char *text = NULL;
        bool found = fs_read_file(AT_FDCWD, path, 64 << 20, &text, NULL) == 0 && strstr(text, needle);

        free(text);
        return found;
}

/* Entries of DIR whose name starts with PREFIX (-1: cannot read it). */
static inline int fx_count(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += !fs_dot_or_dotdot(de->d_name) && strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        return n;
}

static inline void fx_open_spool(struct fixture *f) {
        if (spool_new(f->config, f->event, &f->spool) < 0)
                bail_out("spool_new failed");
        f->q = spool_queue_new(f->spool, &f->config->queues[0]);
        if (!f->q)
                bail_out("spool_queue_new failed");
}

/* A spool in a new temp dir; QUEUE_YAML is added to queue q's settings. */
static inline void fx_setup(struct fixture *f, const char *name, unsigned workers, const char *queue_yaml) {
        char tmpl[PATH_MAX];
        char *error = NULL;

        /* sd-event watches children only with SIGCHLD blocked, as the daemon does. */
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &chld, NULL);
        snprintf(tmpl, sizeof(tmpl), "/tmp/%s.XXXXXX", name);
        if (!mkdtemp(tmpl))
                bail_out("mkdtemp: %m");
        *f = (struct fixture) { .root = xstrdup(tmpl) };
        f->inbox = fx_path(f, "inbox");
        f->outbox = fx_path(f, "outbox");
        if (mkdir(f->inbox, 0755) < 0)
                bail_out("mkdir %s: %m", f->inbox);
        char *yaml = fx_path(f, "spool.yaml");
        char *text = xasprintf("state_dir: %s/state\nworkers: %u\njob_timeout: 30s\nlog: stderr\n"
                               "queues:\n  q:\n    inbox: %s\n    outbox: %s\n%s",
                               f->root, workers, f->inbox, f->outbox, queue_yaml ? queue_yaml : "");
        fx_write(yaml, text);
        if (config_load(yaml, &f->config, &error) < 0)
                bail_out("config_load: %s", error ? error : "failed");
        free(text);
        free(yaml);
        if (sd_event_new(&f->event) < 0)
                bail_out("sd_event_new failed");
        fx_open_spool(f);
}

/* What a restart does to the store: everything in memory goes, the disk stays. */
static inline void fx_reopen_spool(struct fixture *f) {
        spool_free(f->spool);
        f->spool = NULL;
        f->q = NULL;
        fx_open_spool(f);
}

static inline void fx_teardown(struct fixture *f) {
        spool_free(f->spool);
        sd_event_unref(f->event);
        config_free(f->config);
        (void) fs_remove_tree(AT_FDCWD, f->root);
        free(f->inbox);
        free(f->outbox);
        free(f->root);
}

/* Run the loop until DONE(ARG) or TIMEOUT_USEC passed; returns DONE's last answer. */
static inline bool fx_run_until(struct fixture *f, bool (*done)(struct fixture *f, void *arg), void *arg,
                                uint64_t timeout_usec) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;

        while (!done(f, arg)) {
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        return false;
                if (sd_event_run(f->event, 50 * USEC_PER_MSEC) < 0)
                        bail_out("sd_event_run failed");
        }
        return true;
}

static inline struct batch *fx_batch(const struct fixture *f, const char *claim) {
        for (struct batch *b = f->q->batches; b; b = b->next)
                if (strcmp(b->claim, claim) == 0)
                        return b;
        return NULL;
}

static inline bool fx_projection_written(struct fixture *f, void *claim) {
        struct batch *b = fx_batch(f, claim);
        return !b || !b->projection_pending;
}

/* A big batch's outbox folder is written in slices, one per loop pass (and a
 * slow machine makes any batch big): run the loop until it is all there. */
static inline void fx_project(struct fixture *f, const char *claim) {
        if (!fx_run_until(f, fx_projection_written, (void *) claim, 10 * USEC_PER_SEC))
                bail_out("the outbox folder of %s was not written within 10 s", claim);
}

static inline char *fx_claim_path(const struct fixture *f, const char *claim) {
        return xasprintf("%s/%s", f->q->claims_path, claim);
}

/* A claim as claim_drop leaves it: src/<drop>/ holding FILES (NULL-terminated),
 * each a tiny PDF whatever its name says. */
static inline void fx_make_claim(const struct fixture *f, const char *claim, const char *drop,
                                 const char *const *files) {
        char *cp = fx_claim_path(f, claim);

        for (size_t i = 0; files[i]; i++) {
                char *p = xasprintf("%s/src/%s/%s", cp, drop, files[i]);
                fx_write(p, "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");
                free(p);
        }
        free(cp);
}

/* Register the claim the way register.c does (a batch with one job per file,
 * its record written), then adopt it into the store. Returns the adopted batch. */
static inline void fx_adopted(struct queue *q, void *userdata) {
        *(bool *) userdata = true;
}

/* spool_batch_adopt, waited for: the record is parsed in a thread and the
 * batch adopted in the loop. Returns 0, or -EIO when it was not adopted. */
static inline int fx_adopt(struct fixture *f, const char *claim) {
        bool adopted = false;
        int r = spool_batch_adopt(f->q, claim, fx_adopted, &adopted);
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;

        while (r == 0 && !adopted && now_usec(CLOCK_MONOTONIC) < deadline)
                (void) sd_event_run(f->event, 100 * USEC_PER_MSEC);
        return r < 0 ? r : adopted ? 0 : -EIO;
}

static inline struct batch *fx_register(struct fixture *f, const char *claim, const char *drop,
                                        const char *const *files) {
        struct batch *b = xcalloc(1, sizeof(*b));
        size_t n = 0;

        while (files[n])
                n++;
        b->queue = f->q;
        b->claim = xstrdup(claim);
        b->claim_path = fx_claim_path(f, claim);
        b->id = xstrdup(drop);
        b->drop = xstrdup(drop);
        b->root = xasprintf("src/%s", drop);
        b->created = now_usec(CLOCK_REALTIME);
        b->jobs = xcalloc(n, sizeof(struct job));
        b->n_jobs = n;
        for (size_t i = 0; i < n; i++) {
                struct job *j = &b->jobs[i];
                struct stat st;
                char *p = xasprintf("%s/%s/%s", b->claim_path, b->root, files[i]);
                if (lstat(p, &st) < 0)
                        bail_out("lstat %s: %m", p);
                free(p);
                j->batch = b;
                j->index = (unsigned) i;
                j->source = xstrdup(files[i]);
                j->original = xstrdup(files[i]);
                j->name = xstrndup(files[i], strlen(files[i]) - 4); /* without ".pdf" */
                fs_ident_from_stat(&j->taken, &st);
        }
        if (spool_batch_record(b) < 0)
                bail_out("spool_batch_record failed");
        spool_batch_free(b);
        if (fx_adopt(f, claim) < 0)
                bail_out("spool_batch_adopt failed");
        fx_project(f, claim);
        return fx_batch(f, claim);
}

/* A worker's work: the outputs in the job's temp folder. */
static inline void fx_write_outputs(const char *out_dir) {
        for (size_t k = 0; model_job_outputs[k]; k++) {
                char *p = xasprintf("%s/%s", out_dir, model_job_outputs[k]);
                fx_write(p, "{}");
                free(p);
        }
}
