/* pdfspoolctl.c: the command-line client, a table of commands.
 *
 * It reads the outbox's status files, the same ones people and other tools
 * read; it never needs the daemon's memory, nor the daemon to be running.
 * "health" asks the kernel whether a daemon holds the state directory's lock;
 * list and status say when the daemon stopped (the lock is free or its
 * heartbeat, <state_dir>/daemon.json, is stale) rather than "processing".
 * Commands that change something (cancel, retry, hold, release, delete) write
 * a request into <state_dir>/control/ and wait for the daemon's outcome
 * (control.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "fsutil.h"
#include "names.h"
#include "statelock.h"
#include "status.h"
#include "util.h"
#include "catalog.h"
#include "export.h"
#include "intake.h"
#include "progress.h"

#define DEFAULT_CONFIG SYSCONFDIR "/pdfspool/pdfspool.yaml"

/* Exit statuses, as in pdfspoolctl(1). */
enum {
        EXIT_REFUSED = 1,       /* not found, or refused */
        EXIT_NOT_RUNNING = 3,   /* the daemon does not run (or did not answer) */
};

#define DEFAULT_TIMEOUT_USEC (15 * USEC_PER_SEC)
#define HEARTBEAT_FILE "daemon.json"

struct ctl {
        struct config *config;
        bool json;
        const char *queue;      /* -q: only this queue */
        const char *state;      /* --state: only batches or jobs in this state */
        bool force;             /* delete --force */
        int priority;           /* priority N */
        const char *output;     /* export -o */
        bool with_originals;    /* export --with-originals */
        bool all;               /* watch --all */
        uint64_t timeout_usec;  /* how long a request waits for the daemon */
        int liveness;           /* daemon_liveness, cached: -2 not asked yet */
        char stopped_at[16];    /* "HH:MM:SS" (local time) when it is known */
        char stopped_rfc3339[40];
};

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "-";
}

static long long num(json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

/* "2026-11-29T17:40:13.123Z" -> seconds ago, as "5s", "3m", "2h", "4d". */
static void format_age(const char *rfc3339, char *buf, size_t size) {
        struct tm tm = {};
        if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
                snprintf(buf, size, "-");
                return;
        }
        long long age = (long long) time(NULL) - (long long) timegm(&tm);
        if (age < 0)
                age = 0;
        if (age < 120)
                snprintf(buf, size, "%llds", age);
        else if (age < 7200)
                snprintf(buf, size, "%lldm", age / 60);
        else if (age < 172800)
                snprintf(buf, size, "%lldh", age / 3600);
        else
                snprintf(buf, size, "%lldd", age / 86400);
}


/* ---- is the daemon alive? ---- */

/* "2026-11-29T17:40:13.123Z" -> unix seconds, or -1. */
static long long parse_time(const char *rfc3339) {
        struct tm tm = {};
        if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm))
                return -1;
        return (long long) timegm(&tm);
}

/* 1 when a daemon runs, 0 when it stopped (c->stopped_at says when, if
 * known), -1 when it cannot be told. A daemon runs when it holds the state
 * directory's lock and its heartbeat is fresh: a daemon whose loop hangs is
 * no better than a stopped one for what waits. */
static int daemon_liveness(struct ctl *c) {
        struct statelock_holder h = {};
        const char *state_dir = c->config->state_dir;
        char *path, *text = NULL;

        if (c->liveness != -2)
                return c->liveness;
        int held = statelock_query(state_dir, &h);
        path = xasprintf("%s/" HEARTBEAT_FILE, state_dir);
        json_t *hb = fs_read_file(AT_FDCWD, path, 1 << 16, &text, NULL) == 0 ? json_loads(text, 0, NULL) : NULL;
        free(text);
        free(path);
        const char *beat = json_string_value(json_object_get(hb, "heartbeat"));
        const char *stopped = json_string_value(json_object_get(hb, "stopped"));
        double interval = json_number_value(json_object_get(hb, "interval_seconds"));
        long long t = parse_time(stopped ? stopped : beat), now = (long long) time(NULL);
        long long stale_after = interval * 3 > 10 ? (long long) (interval * 3) : 10;
        bool stale = beat && !stopped && t >= 0 && now - t > stale_after;
        /* The holder of the lock wrote this heartbeat, and is past its recovery
         * (which may keep it silent for long): only then does silence count. */
        bool own = held > 0 && (!h.known || h.pid == json_integer_value(json_object_get(hb, "pid"))) &&
                   !json_is_true(json_object_get(hb, "recovering"));

        if (held > 0)
                c->liveness = own && (stale || stopped) ? 0 : 1;
        else
                c->liveness = held == 0 || stale || stopped ? 0 : -1;
        if (c->liveness == 0 && t >= 0) {
                time_t tt = (time_t) t;
                struct tm tm;
                localtime_r(&tt, &tm);
                strftime(c->stopped_at, sizeof(c->stopped_at), "%H:%M:%S", &tm);
                snprintf(c->stopped_rfc3339, sizeof(c->stopped_rfc3339), "%s", stopped ? stopped : beat);
        }
        json_decref(hb);
        return c->liveness;
}

static bool state_unfinished(const char *state) {
        return state && (strcmp(state, "queued") == 0 || strcmp(state, "processing") == 0);
}

/* What a person should read for a batch status's state: "daemon stopped at
 * HH:MM:SS" for a batch that would be moving if the daemon ran, "held" for
 * one on hold, else its state. Returns a static or C's buffer. */
static const char *shown_state(struct ctl *c, json_t *batch, char *buf, size_t size) {
        const char *state = str(batch, "state");

        if (!state_unfinished(state))
                return state;
        if (daemon_liveness(c) == 0) {
                snprintf(buf, size, c->stopped_at[0] ? "daemon stopped at %s" : "daemon stopped", c->stopped_at);
                return buf;
        }
        if (json_is_true(json_object_get(batch, "held")))
                return "held";
        return state;
}

/* For --json: a batch status of an unfinished batch gets "daemon": what runs it. */
static void add_liveness(struct ctl *c, json_t *batch) {
        if (!state_unfinished(str(batch, "state")))
                return;
        int l = daemon_liveness(c);
        json_t *d = json_pack("{s:s}", "state", l > 0 ? "running" : l == 0 ? "stopped" : "unknown");
        if (l == 0 && c->stopped_rfc3339[0])
                json_object_set_new(d, "stopped", json_string(c->stopped_rfc3339));
        json_object_set_new(batch, "daemon", d);
}

static int compare_created(const void *a, const void *b) {
        const char *x = str(*(json_t *const *) a, "created"), *y = str(*(json_t *const *) b, "created");
        return strcmp(x, y);
}

static bool queue_selected(const struct ctl *c, const struct queue_config *qc) {
        return !c->queue || strcmp(c->queue, qc->name) == 0;
}

static json_t *pending_rows(struct ctl *c);

static int cmd_list(struct ctl *c, int argc, char **argv) {
        json_t **rows = NULL;
        size_t n = 0;

        if (argc > 1) {
                fprintf(stderr, "pdfspoolctl list: takes no arguments\n");
                return EX_USAGE;
        }
        if (c->state && job_state_from_string(c->state) < 0 && strcmp(c->state, "held") != 0 &&
            strcmp(c->state, "waiting") != 0) {
                fprintf(stderr, "pdfspoolctl list: --state takes queued, processing, done, canceled, held or waiting\n");
                return EX_USAGE;
        }
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                DIR *d = opendir(qc->outbox); /* the configured path may be a link */
                struct dirent *de;
                if (!d)
                        continue;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.' || strcmp(de->d_name, "rejected") == 0)
                                continue;
                        char *p = xasprintf("%s/" STATUS_FILE, de->d_name);
                        json_t *j = status_load(dirfd(d), p);
                        free(p);
                        if (!j)
                                continue;
                        if (c->state && strcmp(c->state, str(j, "state")) != 0 &&
                            !(strcmp(c->state, "held") == 0 && json_is_true(json_object_get(j, "held")) &&
                              state_unfinished(str(j, "state")))) {
                                json_decref(j);
                                continue;
                        }
                        add_liveness(c, j);
                        rows = xrealloc(rows, (n + 1) * sizeof(json_t *));
                        rows[n++] = j;
                }
                closedir(d);
        }
        if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(rows, n, sizeof(json_t *), compare_created);
        if (c->json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append(a, rows[i]);
                json_dumpf(a, stdout, JSON_INDENT(2));
                putchar('\n');
                json_decref(a);
        } else {
                int width = 10;
                char buf[64];
                for (size_t i = 0; i < n; i++) {
                        int w = (int) strlen(shown_state(c, rows[i], buf, sizeof(buf)));
                        width = w > width ? w : width;
                }
                printf("%-32s %-12s %-*s %11s %6s %7s %5s\n", "BATCH", "QUEUE", width, "STATE", "DONE/TOTAL",
                       "FAILED", "SKIPPED", "AGE");
                for (size_t i = 0; i < n; i++) {
                        json_t *jobs = json_object_get(rows[i], "jobs");
                        char done[48], age[32];
                        snprintf(done, sizeof(done), "%lld/%lld", num(jobs, "done"),
                                 num(jobs, "total") - num(jobs, "skipped"));
                        format_age(json_string_value(json_object_get(rows[i], "created")), age, sizeof(age));
                        printf("%-32s %-12s %-*s %11s %6lld %7lld %5s\n", str(rows[i], "batch"), str(rows[i], "queue"),
                               width, shown_state(c, rows[i], buf, sizeof(buf)), done, num(jobs, "failed"), num(jobs, "skipped"), age);
                }
                /* What is not a batch yet: "waiting", and why (pdfspoolctl pending). */
                json_t *waiting = !c->state || strcmp(c->state, "waiting") == 0 ? pending_rows(c) : json_array(), *e;
                size_t k;
                json_array_foreach(waiting, k, e)
                        printf("%-32s %-12s %-*s %s\n", str(e, "name"), str(e, "queue"), width, "waiting",
                               str(e, "reason"));
                json_decref(waiting);
        }
        for (size_t i = 0; i < n; i++)
                json_decref(rows[i]);
        free(rows);
        return 0;
}

/* What the daemon last said waits in each selected queue's inbox (its
 * <state_dir>/queues.json), as [{queue, kind, name, reason, until, ...}];
 * empty when no daemon runs (then nothing is judged). */
static json_t *pending_rows(struct ctl *c) {
        json_t *rows = json_array(), *q, *e;
        size_t i, k;

        if (daemon_liveness(c) <= 0)
                return rows;
        int sd = open(c->config->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        json_t *doc = sd >= 0 ? status_load(sd, INTAKE_QUEUES_FILE) : NULL;
        if (sd >= 0)
                close(sd);
        json_array_foreach(json_object_get(doc, "queues"), i, q) {
                const struct queue_config *qc = config_find_queue(c->config, str(q, "queue"));
                if (!qc || !queue_selected(c, qc))
                        continue;
                if (json_string_value(json_object_get(q, "hold")))
                        json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:s}", "queue", str(q, "queue"), "kind",
                                                              "queue", "name", "(inbox)", "reason",
                                                              str(q, "hold")));
                json_array_foreach(json_object_get(q, "pending"), k, e) {
                        json_t *row = json_deep_copy(e);
                        json_object_set_new(row, "queue", json_string(str(q, "queue")));
                        json_array_append_new(rows, row);
                }
        }
        json_decref(doc);
        return rows;
}

/* The newest rejects of the selected queues (outbox/rejected/NAME.status.json). */
static json_t *rejected_rows(struct ctl *c, size_t max) {
        json_t *rows = json_array();

        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                char *dir = xasprintf("%s/rejected", qc->outbox);
                DIR *d = opendir(dir);
                struct dirent *de;
                free(dir);
                while (d && (de = readdir(d)))
                        if (de->d_name[0] != '.' && str_has_suffix(de->d_name, ".status.json")) {
                                json_t *j = status_load(dirfd(d), de->d_name);
                                if (j)
                                        json_array_append_new(rows, j);
                        }
                if (d)
                        closedir(d);
        }
        /* newest first */
        size_t n = json_array_size(rows);
        for (size_t a = 0; a < n; a++)
                for (size_t b = a + 1; b < n; b++)
                        if (strcmp(str(json_array_get(rows, b), "rejected"), str(json_array_get(rows, a), "rejected")) > 0) {
                                json_t *x = json_incref(json_array_get(rows, a));
                                json_array_set(rows, a, json_array_get(rows, b));
                                json_array_set_new(rows, b, x);
                        }
        while (json_array_size(rows) > max)
                json_array_remove(rows, json_array_size(rows) - 1);
        return rows;
}

static void print_until(const char *until) {
        char hms[16] = "";
        if (until && strlen(until) >= 19) {
                /* shown in local time, as people read clocks */
                uint64_t t;
                if (parse_rfc3339(until, &t) == 0) {
                        time_t s = (time_t) (t / USEC_PER_SEC);
                        struct tm tm;
                        localtime_r(&s, &tm);
                        strftime(hms, sizeof(hms), " until %H:%M:%S", &tm);
                }
        }
        fputs(hms, stdout);
}

static int cmd_pending(struct ctl *c, int argc, char **argv) {
        if (argc > 1) {
                fprintf(stderr, "pdfspoolctl pending: takes no arguments\n");
                return EX_USAGE;
        }
        json_t *rows = pending_rows(c), *rejected = rejected_rows(c, 20), *e;
        size_t i;
        int live = daemon_liveness(c);

        if (c->json) {
                json_t *doc = json_pack("{s:O,s:O,s:s}", "pending", rows, "rejected", rejected, "daemon",
                                        live > 0 ? "running" : live == 0 ? "stopped" : "unknown");
                json_dumpf(doc, stdout, JSON_INDENT(2));
                putchar('\n');
                json_decref(doc);
        } else {
                if (live <= 0)
                        printf("The daemon is not running: nothing in the inboxes is being judged.\n");
                else if (json_array_size(rows) == 0)
                        printf("Nothing waits in the inboxes.\n");
                json_array_foreach(rows, i, e) {
                        printf("%-12s %-32s %s", str(e, "queue"), str(e, "name"), str(e, "reason"));
                        print_until(json_string_value(json_object_get(e, "until")));
                        json_t *missing = json_object_get(e, "missing"), *m;
                        size_t k;
                        if (json_array_size(missing) > 0) {
                                fputs(": ", stdout);
                                json_array_foreach(missing, k, m)
                                        printf("%s%s", k ? ", " : "", json_string_value(m));
                                if ((size_t) json_integer_value(json_object_get(e, "missing_total")) > k)
                                        fputs(", ...", stdout);
                        }
                        putchar('\n');
                }
                if (json_array_size(rejected) > 0)
                        printf("\nRecently rejected (outbox/rejected/):\n");
                json_array_foreach(rejected, i, e)
                        printf("%-12s %-32s %s\n", str(e, "queue"), str(e, "file"), str(e, "reason"));
        }
        json_decref(rows);
        json_decref(rejected);
        return 0;
}

static int compare_job(const void *a, const void *b) {
        return strcmp(str(*(json_t *const *) a, "job"), str(*(json_t *const *) b, "job"));
}

static bool batch_id_ok(const char *id) {
        if (id[0] && id[0] != '.' && !strchr(id, '/'))
                return true;
        fprintf(stderr, "pdfspoolctl: \"%s\" is not a batch id\n", id);
        return false;
}

/* Batch ID's status and its jobs' statuses (sorted by job) from the outboxes:
 * 0, or 1 (said on stderr) when no queue has it. */
static int find_batch(struct ctl *c, const char *id, json_t **ret_batch, json_t **ret_jobs) {
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                int fd = open(qc->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                char *p = xasprintf("%s/" STATUS_FILE, id);
                json_t *batch = status_load(fd, p);
                free(p);
                if (!batch) {
                        close(fd);
                        continue;
                }
                int bfd = openat(fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                json_t *jobs = json_array();
                if (bfd >= 0) {
                        status_collect_jobs(bfd, "", jobs, 0);
                        close(bfd);
                }
                close(fd);
                size_t n = json_array_size(jobs);
                json_t **sorted = xcalloc(n + 1, sizeof(json_t *));
                for (size_t k = 0; k < n; k++)
                        sorted[k] = json_array_get(jobs, k);
                if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                        qsort(sorted, n, sizeof(json_t *), compare_job);
                json_t *sorted_array = json_array();
                for (size_t k = 0; k < n; k++)
                        json_array_append(sorted_array, sorted[k]);
                free(sorted);
                json_decref(jobs);
                *ret_batch = batch;
                *ret_jobs = sorted_array;
                return 0;
        }
        fprintf(stderr, "pdfspoolctl: no batch \"%s\"%s%s\n", id, c->queue ? " in queue " : " in any queue",
                c->queue ? c->queue : "");
        return EXIT_REFUSED;
}

/* The one argument BATCH of "status" and "jobs" (USAGE when it is not one),
 * then find_batch. 0, or the exit status. */
static int batch_argument(struct ctl *c, int argc, char **argv, const char *usage, json_t **ret_batch,
                          json_t **ret_jobs) {
        if (argc != 2) {
                fprintf(stderr, "Usage: pdfspoolctl %s\n", usage);
                return EX_USAGE;
        }
        if (!batch_id_ok(argv[1]))
                return EXIT_REFUSED;
        return find_batch(c, argv[1], ret_batch, ret_jobs);
}

static void print_json(json_t *j) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
}

static void print_jobs(json_t *jobs) {
        size_t k;
        json_t *j;

        printf("%-40s %-10s %8s %5s %8s  %s\n", "JOB", "STATE", "ATTEMPTS", "PAGES", "SECONDS", "ERROR");
        json_array_foreach(jobs, k, j)
                printf("%-40s %-10s %8lld %5lld %8.2f  %s\n", str(j, "job"), str(j, "state"), num(j, "attempts"),
                       num(j, "pages"), json_number_value(json_object_get(j, "seconds")),
                       json_is_string(json_object_get(j, "error"))    ? str(j, "error")
                       : json_is_string(json_object_get(j, "runner")) ? str(j, "runner") /* a Slurm job */
                                                                      : "");
}

static int cmd_status(struct ctl *c, int argc, char **argv) {
        json_t *batch, *jobs;
        int r = batch_argument(c, argc, argv, "status BATCH", &batch, &jobs);

        if (r != 0)
                return r;
        if (c->json) {
                add_liveness(c, batch);
                json_t *out = json_pack("{s:O,s:O}", "batch", batch, "jobs", jobs);
                print_json(out);
                json_decref(out);
        } else {
                json_t *counts = json_object_get(batch, "jobs");
                char buf[64];
                const char *shown = shown_state(c, batch, buf, sizeof(buf));
                printf("Batch:    %s\nQueue:    %s\nState:    %s", str(batch, "batch"), str(batch, "queue"), shown);
                if (strcmp(shown, str(batch, "state")) != 0)
                        printf(" (its status says %s)", str(batch, "state"));
                if (json_string_value(json_object_get(batch, "held_why")))
                        printf("\nHeld:     %s", str(batch, "held_why"));
                printf("\nJobs:     %lld total: %lld done, %lld failed, %lld queued, %lld processing, "
                       "%lld canceled, %lld skipped\n",
                       num(counts, "total"), num(counts, "done"), num(counts, "failed"), num(counts, "queued"),
                       num(counts, "processing"), num(counts, "canceled"), num(counts, "skipped"));
                printf("Pages:    %lld\nCreated:  %s\nStarted:  %s\nFinished: %s\n\n", num(batch, "pages_done"),
                       str(batch, "created"), str(batch, "started"), str(batch, "finished"));
                print_jobs(jobs);
                json_t *skipped = json_object_get(batch, "skipped");
                for (size_t k = 0; k < json_array_size(skipped); k++) {
                        json_t *sk = json_array_get(skipped, k);
                        printf("%-40s %-10s %8s %5s %8s  %s\n", str(sk, "source"), "skipped", "", "", "",
                               str(sk, "reason"));
                }
        }
        json_decref(jobs);
        json_decref(batch);
        return 0;
}

static int cmd_jobs(struct ctl *c, int argc, char **argv) {
        json_t *batch, *jobs;

        if (c->state && job_state_from_string(c->state) < 0) {
                fprintf(stderr, "pdfspoolctl jobs: --state takes queued, processing, done, failed or canceled\n");
                return EX_USAGE;
        }
        int r = batch_argument(c, argc, argv, "jobs BATCH [--state STATE]", &batch, &jobs);
        if (r != 0)
                return r;
        json_t *selected = json_array();
        size_t k;
        json_t *j;
        json_array_foreach(jobs, k, j)
                if (!c->state || strcmp(c->state, str(j, "state")) == 0)
                        json_array_append(selected, j);
        if (c->json)
                print_json(selected);
        else
                print_jobs(selected);
        json_decref(selected);
        json_decref(jobs);
        json_decref(batch);
        return 0;
}

/* ---- requests to the daemon (control.h) ---- */

static bool daemon_may_answer(void *userdata) {
        struct ctl *c = userdata;
        c->liveness = -2;
        return daemon_liveness(c) != 0;
}

/* Send ACTION for BATCH (and JOBS) and wait for the outcome: the outcome's
 * code (0 done, 1 refused), or 3 when no daemon answers. */
static int request(struct ctl *c, const char *action, const char *batch, char **jobs, size_t n_jobs) {
        const char *state_dir = c->config->state_dir;
        char *id = NULL;
        json_t *out = NULL;

        if (daemon_liveness(c) == 0) {
                fprintf(stderr, "pdfspoolctl: the daemon is not running%s%s (no pdfspoold holds %s/" STATELOCK_FILE
                                "); nothing was changed\n",
                        c->stopped_at[0] ? ": stopped at " : "", c->stopped_at, state_dir);
                return EXIT_NOT_RUNNING;
        }
        struct control_request rq = { .action = (char *) action, .batch = (char *) batch,
                                      .queue = (char *) c->queue, .jobs = jobs, .n_jobs = n_jobs,
                                      .force = c->force, .priority = c->priority };
        int r = control_request_submit(state_dir, &rq, &id);
        if (r == -ENOENT) {
                fprintf(stderr, "pdfspoolctl: %s/" CONTROL_DIR " does not exist: no daemon of this version has "
                                "run on this state_dir\n", state_dir);
                return EXIT_NOT_RUNNING;
        }
        if (r < 0) {
                fprintf(stderr, "pdfspoolctl: cannot write a request into %s/" CONTROL_DIR ": %s%s\n", state_dir,
                        strerror(-r), r == -EACCES ? " (who may control the daemon: members of group "
                                                     CONTROL_GROUP ")" : "");
                return EXIT_REFUSED;
        }
        r = control_outcome_wait(state_dir, id, c->timeout_usec, daemon_may_answer, c, &out);
        free(id);
        if (r == -ETIMEDOUT || r == -ESRCH) {
                fprintf(stderr, "pdfspoolctl: %s; nothing was changed\n",
                        r == -ESRCH ? "the daemon stopped before it answered"
                                    : "the daemon did not answer in time (see --timeout)");
                return EXIT_NOT_RUNNING;
        }
        if (r < 0) {
                fprintf(stderr, "pdfspoolctl: cannot read the daemon's answer: %s\n", strerror(-r));
                return EXIT_REFUSED;
        }
        int code = (int) json_integer_value(json_object_get(out, "code"));
        if (c->json)
                print_json(out);
        else
                fprintf(code == 0 ? stdout : stderr, "%s%s\n", code == 0 ? "" : "pdfspoolctl: ",
                        str(out, "message"));
        json_decref(out);
        return code == 0 ? 0 : EXIT_REFUSED;
}

/* cancel/retry BATCH [JOB...] */
static int cmd_jobs_request(struct ctl *c, int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "Usage: pdfspoolctl %s BATCH [JOB...]\n", argv[0]);
                return EX_USAGE;
        }
        if (!batch_id_ok(argv[1]))
                return EXIT_REFUSED;
        return request(c, argv[0], argv[1], argv + 2, (size_t) (argc - 2));
}

static int cmd_cancel(struct ctl *c, int argc, char **argv) {
        return cmd_jobs_request(c, argc, argv);
}

static int cmd_retry(struct ctl *c, int argc, char **argv) {
        return cmd_jobs_request(c, argc, argv);
}

/* hold/release/delete BATCH */
static int cmd_batch_request(struct ctl *c, int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "Usage: pdfspoolctl %s BATCH%s\n", argv[0],
                        strcmp(argv[0], "delete") == 0 ? " [--force]" : "");
                return EX_USAGE;
        }
        if (c->force && strcmp(argv[0], "delete") != 0) {
                fprintf(stderr, "pdfspoolctl %s: --force is for delete only\n", argv[0]);
                return EX_USAGE;
        }
        if (!batch_id_ok(argv[1]))
                return EXIT_REFUSED;
        return request(c, argv[0], argv[1], NULL, 0);
}

static int cmd_priority(struct ctl *c, int argc, char **argv) {
        char *end = NULL;
        long n = argc == 3 ? strtol(argv[2], &end, 10) : 0;

        if (argc != 3 || !end || *end || !argv[2][0] || n < -100 || n > 100) {
                fprintf(stderr, "Usage: pdfspoolctl priority BATCH N   (N from -100 to 100; higher runs first)\n");
                return EX_USAGE;
        }
        if (!batch_id_ok(argv[1]))
                return EXIT_REFUSED;
        c->priority = (int) n;
        return request(c, argv[0], argv[1], NULL, 0);
}

static int cmd_hold(struct ctl *c, int argc, char **argv) {
        return cmd_batch_request(c, argc, argv);
}

static int cmd_release(struct ctl *c, int argc, char **argv) {
        return cmd_batch_request(c, argc, argv);
}

static int cmd_delete(struct ctl *c, int argc, char **argv) {
        return cmd_batch_request(c, argc, argv);
}

/* The outbox (an open fd) of the queue that holds batch ID, or -1 with a
 * message: not a batch id, or no such batch. */
static int open_batch_outbox(const struct ctl *c, const char *id, const struct queue_config **ret_qc) {
        if (!id[0] || id[0] == '.' || strchr(id, '/')) {
                fprintf(stderr, "pdfspoolctl: \"%s\" is not a batch id\n", id);
                return -1;
        }
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                int fd = open(qc->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                char *p = xasprintf("%s/" STATUS_FILE, id);
                json_t *batch = status_load(fd, p);
                free(p);
                if (batch) {
                        json_decref(batch);
                        if (ret_qc)
                                *ret_qc = qc;
                        return fd;
                }
                close(fd);
        }
        fprintf(stderr, "pdfspoolctl: no batch \"%s\"%s%s\n", id, c->queue ? " in queue " : " in any queue",
                c->queue ? c->queue : "");
        return -1;
}

static int cmd_export(struct ctl *c, int argc, char **argv) {
        if (argc != 2) {
                fputs("Usage: pdfspoolctl export BATCH [-o FILE|-] [--with-originals]\n", stderr);
                return EX_USAGE;
        }
        const char *output = c->output;
        bool originals = c->with_originals;
        const char *id = argv[1];
        int outbox = open_batch_outbox(c, id, NULL);
        if (outbox < 0)
                return 1;
        char *path = output ? xstrdup(output) : xasprintf("%s.zip", id), *error = NULL;
        bool to_stdout = strcmp(path, "-") == 0;
        if (to_stdout && isatty(STDOUT_FILENO)) {
                fprintf(stderr, "pdfspoolctl export: will not write a ZIP to a terminal; redirect it or use -o FILE\n");
                free(path);
                close(outbox);
                return EX_USAGE;
        }
        /* A file is written beside its final name and renamed: never half a ZIP under it. */
        char *tmp = to_stdout ? NULL : xasprintf("%s.part", path);
        int fd = to_stdout ? STDOUT_FILENO : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int r = fd < 0 ? -errno : 0;
        if (r < 0)
                error = xasprintf("cannot create %s: %s", tmp, strerror(-r));
        if (r == 0)
                r = export_batch_zip(outbox, id, originals, fd, &error);
        if (!to_stdout && fd >= 0) {
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                if (close(fd) < 0 && r == 0)
                        r = -errno;
                if (r == 0 && rename(tmp, path) < 0)
                        r = -errno;
                if (r < 0)
                        (void) unlink(tmp);
        }
        if (r < 0)
                fprintf(stderr, "pdfspoolctl export: %s\n", error ? error : strerror(-r));
        else if (!to_stdout)
                fprintf(stderr, "%s\n", path);
        free(error);
        free(tmp);
        free(path);
        close(outbox);
        return r < 0 ? 1 : 0;
}

static int cmd_watch(struct ctl *c, int argc, char **argv) {
        if ((argc == 2) == c->all || argc > 2) {
                fputs("Usage: pdfspoolctl watch BATCH|--all [--json]\n", stderr);
                return EX_USAGE;
        }
        struct statelock_holder h = {};
        if (statelock_query(c->config->state_dir, &h) == 0)
                fprintf(stderr, "pdfspoolctl watch: no daemon runs on %s: nothing will move until one starts\n",
                        c->config->state_dir);
        return progress_watch(c->config, c->queue, argc == 2 ? argv[1] : NULL, c->json);
}

/* The outbox folder of batch ID in the selected queues, or -1 (told on stderr). */
static int open_batch(struct ctl *c, const char *id, const struct queue_config **ret_qc) {
        if (!id[0] || id[0] == '.' || strchr(id, '/')) {
                fprintf(stderr, "pdfspoolctl: \"%s\" is not a batch id\n", id);
                return -1;
        }
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                int fd = open(qc->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                int bfd = openat(fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                if (bfd >= 0) {
                        *ret_qc = qc;
                        return bfd;
                }
        }
        fprintf(stderr, "pdfspoolctl: no batch \"%s\"%s%s\n", id, c->queue ? " in queue " : " in any queue",
                c->queue ? c->queue : "");
        return -1;
}

/* The batch's parts: rebuilt into its folder when we may write there (until the
 * daemon does it as jobs finish), else collected and only printed. */
static int batch_rows(struct ctl *c, const char *id, json_t **ret_rows, int *ret_fd) {
        const struct queue_config *qc = NULL;
        int fd = open_batch(c, id, &qc), r;

        if (fd < 0)
                return -1;
        r = catalog_rebuild(fd, qc->file_mode, (gid_t) -1);
        if (r < 0 && r != -EACCES && r != -EPERM && r != -EROFS)
                fprintf(stderr, "pdfspoolctl: cannot write the parts catalog of \"%s\": %s\n", id, strerror(-r));
        r = catalog_collect(fd, ret_rows);
        if (r < 0) {
                fprintf(stderr, "pdfspoolctl: cannot read the jobs of \"%s\": %s\n", id, strerror(-r));
                close(fd);
                return -1;
        }
        *ret_fd = fd;
        return 0;
}

static int cmd_parts(struct ctl *c, int argc, char **argv) {
        json_t *rows;
        int fd;

        if (argc != 2) {
                fprintf(stderr, "Usage: pdfspoolctl parts BATCH [--json]\n");
                return EX_USAGE;
        }
        if (batch_rows(c, argv[1], &rows, &fd) < 0)
                return 1;
        catalog_print(stdout, rows, c->json);
        json_decref(rows);
        close(fd);
        return 0;
}

static int cmd_diff(struct ctl *c, int argc, char **argv) {
        json_t *a, *b, *diff;
        int fd_a, fd_b;

        if (argc != 3) {
                fprintf(stderr, "Usage: pdfspoolctl diff BATCH_A BATCH_B [--json]\n");
                return EX_USAGE;
        }
        if (batch_rows(c, argv[1], &a, &fd_a) < 0)
                return 1;
        if (batch_rows(c, argv[2], &b, &fd_b) < 0) {
                json_decref(a);
                close(fd_a);
                return 1;
        }
        diff = catalog_diff(a, b, fd_a, fd_b);
        catalog_print_diff(stdout, diff, c->json);
        json_decref(diff);
        json_decref(a);
        json_decref(b);
        close(fd_a);
        close(fd_b);
        return 0;
}


/* Exit codes of "health", as in pdfspoolctl(1). */
enum {
        HEALTH_OK = 0,
        HEALTH_QUEUE_UNREACHABLE = 1,
        HEALTH_NO_DAEMON = 3,
        HEALTH_UNKNOWN = 4,
};

/* A queue folder is reachable when it opens as a directory: NULL, or why not. */
static const char *folder_problem(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return strerror(errno);
        close(fd);
        return NULL;
}

static json_t *folder_json(const char *path, const char *problem) {
        return json_pack("{s:o,s:b,s:s?}", "path", names_to_json_display(path), "reachable", !problem, "error",
                         problem);
}

static int cmd_health(struct ctl *c, int argc, char **argv) {
        struct statelock_holder h = {};
        const char *state_dir = c->config->state_dir;
        int held, code;

        if (argc > 1) {
                fprintf(stderr, "pdfspoolctl health: takes no arguments\n");
                return EX_USAGE;
        }
        held = statelock_query(state_dir, &h);
        code = held > 0 ? HEALTH_OK : held == 0 ? HEALTH_NO_DAEMON : HEALTH_UNKNOWN;
        /* It holds the lock but its loop stopped answering (its heartbeat is stale). */
        bool silent = held > 0 && daemon_liveness(c) == 0;
        if (silent)
                code = HEALTH_NO_DAEMON;
        json_t *daemon = json_pack("{s:b}", "running", held > 0 && !silent);
        if (silent)
                json_object_set_new(daemon, "heartbeat_stopped", json_string(c->stopped_rfc3339));
        if (held > 0 && h.known)
                json_object_update_new(daemon, json_pack("{s:I,s:s}", "pid", (json_int_t) h.pid, "host", h.host));
        if (held < 0)
                json_object_set_new(daemon, "error", json_string(strerror(-held)));
        json_t *queues = json_array();
        /* What the running daemon sees of each inbox (how it watches, holds): its own view. */
        int sd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        json_t *seen = held > 0 && sd >= 0 ? status_load(sd, INTAKE_QUEUES_FILE) : NULL;
        if (sd >= 0)
                close(sd);
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                json_t *view = NULL, *v;
                size_t k;
                json_array_foreach(json_object_get(seen, "queues"), k, v)
                        if (strcmp(str(v, "queue"), qc->name) == 0)
                                view = v;
                const char *hold = json_string_value(json_object_get(view, "hold"));
                const char *in = folder_problem(qc->inbox), *out;
                json_t *inbox = folder_json(qc->inbox, in);
                out = folder_problem(qc->outbox);
                json_t *entry = json_pack("{s:s,s:o,s:o}", "queue", qc->name, "inbox", inbox, "outbox",
                                          folder_json(qc->outbox, out));
                if (view)
                        json_object_set(entry, "daemon_view", view);
                if (hold && code == HEALTH_OK)
                        code = HEALTH_QUEUE_UNREACHABLE;
                json_array_append_new(queues, entry);
                if ((in || out) && code == HEALTH_OK)
                        code = HEALTH_QUEUE_UNREACHABLE;
        }
        json_decref(seen);
        if (c->json) {
                json_t *out = json_pack("{s:o,s:b,s:o,s:o}", "state_dir", names_to_json_display(state_dir), "healthy",
                                        code == HEALTH_OK, "daemon", daemon, "queues", queues);
                json_dumpf(out, stdout, JSON_INDENT(2));
                putchar('\n');
                json_decref(out);
                return code;
        }
        printf("State dir: %s\n", state_dir);
        if (silent)
                printf("Daemon:    not answering: pdfspoold pid %lld holds the state_dir lock, but its heartbeat "
                       "stopped at %s\n", h.pid, c->stopped_at);
        else if (held > 0 && h.known)
                printf("Daemon:    running: pdfspoold pid %lld on host %s holds the state_dir lock\n", h.pid, h.host);
        else if (held > 0)
                printf("Daemon:    running: a pdfspoold holds the state_dir lock (it has not said which)\n");
        else if (held == 0)
                printf("Daemon:    not running: no daemon holds the state_dir lock\n");
        else
                printf("Daemon:    unknown: cannot read %s/" STATELOCK_FILE ": %s\n", state_dir, strerror(-held));
        size_t i;
        json_t *q;
        json_array_foreach(queues, i, q) {
                const char *what[] = { "inbox", "outbox" };
                for (size_t k = 0; k < ELEMENTSOF(what); k++) {
                        json_t *f = json_object_get(q, what[k]);
                        const char *err = json_string_value(json_object_get(f, "error"));
                        printf("Queue %s: %-6s %s: %s%s\n", str(q, "queue"), what[k], str(f, "path"),
                               err ? "not reachable: " : "reachable", err ? err : "");
                }
                json_t *v = json_object_get(q, "daemon_view");
                if (v)
                        printf("Queue %s: sees   %s\n", str(q, "queue"), str(v, "sees"));
                if (json_string_value(json_object_get(v, "hold")))
                        printf("Queue %s: on hold: %s\n", str(q, "queue"), str(v, "hold"));
                if (json_string_value(json_object_get(v, "deferred")))
                        printf("Queue %s: work waits: %s\n", str(q, "queue"), str(v, "deferred"));
                if (json_string_value(json_object_get(v, "drops_wait")))
                        printf("Queue %s: new drops wait: %s\n", str(q, "queue"), str(v, "drops_wait"));
        }
        json_decref(daemon);
        json_decref(queues);
        return code;
}

/* what every command that sends a request takes */
#define REQUEST_OPTIONS \
        "      --timeout SEC  wait at most SEC seconds for the daemon (default 15)\n" \
        "      --json         the daemon's answer as JSON\n"

static const struct command {
        const char *name;
        const char *args;
        const char *help;
        int (*run)(struct ctl *c, int argc, char **argv);
        const char *options;    /* the command's own options, for "COMMAND --help" */
} commands[] = {
        { "list", "", "one line per batch: id, queue, state, done/total, failed, skipped, age", cmd_list,
          "  -q, --queue Q      only batches of queue Q\n"
          "      --state S      only batches in state S: queued, processing, done, canceled, held\n"
          "      --json         the batches' status.json objects as an array\n" },
        { "status", "BATCH", "the batch and each of its jobs", cmd_status,
          "      --json         {\"batch\": its status.json, \"jobs\": [each job's status.json]}\n" },
        { "jobs", "BATCH", "the batch's jobs: state, attempts, pages, seconds, error", cmd_jobs,
          "      --state S      only jobs in state S: queued, processing, done, failed, canceled\n"
          "      --json         the jobs' status.json objects as an array\n" },
        { "cancel", "BATCH [JOB...]", "cancel queued jobs at once and stop running ones; all jobs: the batch "
          "ends canceled", cmd_cancel,
          REQUEST_OPTIONS },
        { "retry", "BATCH [JOB...]", "failed and canceled jobs back to queued (attempt counts kept)", cmd_retry,
          REQUEST_OPTIONS },
        { "hold", "BATCH", "start no new jobs of the batch; running ones finish", cmd_hold,
          REQUEST_OPTIONS },
        { "release", "BATCH", "the held batch's jobs start again", cmd_release,
          REQUEST_OPTIONS },
        { "priority", "BATCH N", "the batch's priority, -100 to 100 (higher starts its jobs first; default 0)",
          cmd_priority, REQUEST_OPTIONS },
        { "delete", "BATCH [--force]", "remove the batch's outbox folder and state; refuses an unfinished batch", cmd_delete,
          "      --force        cancel an unfinished batch first, then delete it\n" REQUEST_OPTIONS },
        { "pending", "", "what waits in the inboxes and why (settling, cut short, a manifest's files), "
          "recent rejects", cmd_pending,
          "      --json         {pending: [...], rejected: [...], daemon}\n" },
        { "export", "BATCH", "the batch's outbox folder as a ZIP", cmd_export,
          "  -o, --output FILE  where the ZIP goes (- for stdout; default BATCH.zip)\n"
          "      --with-originals  the original PDFs too\n" },
        { "watch", "BATCH|--all", "live progress until it ends (exit 0 all done, 4 some failed, 5 canceled)", cmd_watch,
          "      --all          every batch\n"
          "      --json         one JSON object per event\n" },
        { "parts", "BATCH", "the batch's parts catalog (part, manufacturer, package, ranges, datasheet)", cmd_parts,
          "      --json         one JSON object a line, as in parts.jsonl\n" },
        { "diff", "A B", "batch B against batch A part by part: added, removed, changed facts and table values",
          cmd_diff, "      --json         {added, removed, changed}\n" },
        { "health", "", "whether a daemon holds the state_dir (exit 3: none), and each queue's folders", cmd_health,
          "      --json         the same as a JSON object\n" },
};

static const char *const common_options =
        "  -c, --config FILE  configuration (default: $PDFSPOOL_CONFIG, else " DEFAULT_CONFIG ")\n"
        "  -q, --queue NAME   only this queue\n"
        "  -h, --help         show this help (after a command: that command's)\n"
        "      --version      show the version\n";

static const char *const exit_statuses =
        "\nExit status: 0 done; 1 not found or refused; 64 usage; 3 the daemon is not running\n"
        "(or did not answer); 78 the configuration cannot be read.\n";

static void usage(FILE *f) {
        fprintf(f, "Usage: pdfspoolctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-7s %-14s %s\n", commands[i].name, commands[i].args, commands[i].help);
        fprintf(f, "\nOptions:\n%s%s", common_options, exit_statuses);
}

static void command_usage(FILE *f, const struct command *cmd) {
        fprintf(f, "Usage: pdfspoolctl [OPTIONS] %s %s\n%s.\n\nOptions:\n%s%s%s", cmd->name, cmd->args,
                cmd->help, cmd->options ? cmd->options : "", common_options, exit_statuses);
}

static const struct command *find_command(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

enum { OPT_JSON = 0x100, OPT_STATE, OPT_FORCE, OPT_TIMEOUT, OPT_VERSION, OPT_WITH_ORIGINALS, OPT_ALL };

/* One option, before or after the command: -1 to go on, else the exit status
 * (--help, --version, a bad option). */
static int take_option(int opt, struct ctl *c, const char **config_path, const struct command *cmd) {
        switch (opt) {
        case 'c': *config_path = optarg; return -1;
        case 'q': c->queue = optarg; return -1;
        case OPT_JSON: c->json = true; return -1;
        case OPT_STATE: c->state = optarg; return -1;
        case OPT_FORCE: c->force = true; return -1;
        case 'o': c->output = optarg; return -1;
        case OPT_WITH_ORIGINALS: c->with_originals = true; return -1;
        case OPT_ALL: c->all = true; return -1;
        case OPT_TIMEOUT: {
                char *end;
                double secs = strtod(optarg, &end);
                if (*end || !(secs > 0) || secs > 86400) {
                        fprintf(stderr, "pdfspoolctl: --timeout takes seconds (> 0)\n");
                        return EX_USAGE;
                }
                c->timeout_usec = (uint64_t) (secs * USEC_PER_SEC);
                return -1;
        }
        case OPT_VERSION: puts(PACKAGE_STRING); return 0;
        case 'h':
                if (cmd)
                        command_usage(stdout, cmd);
                else
                        usage(stdout);
                return 0;
        default:
                if (cmd)
                        command_usage(stderr, cmd);
                else
                        usage(stderr);
                return EX_USAGE;
        }
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "queue", required_argument, NULL, 'q' },
                { "json", no_argument, NULL, OPT_JSON },
                { "state", required_argument, NULL, OPT_STATE },
                { "force", no_argument, NULL, OPT_FORCE },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "output", required_argument, NULL, 'o' },
                { "with-originals", no_argument, NULL, OPT_WITH_ORIGINALS },
                { "all", no_argument, NULL, OPT_ALL },
                {}
        };
        const char *env = getenv("PDFSPOOL_CONFIG");
        const char *config_path = env && *env ? env : DEFAULT_CONFIG;
        struct ctl c = { .liveness = -2, .timeout_usec = DEFAULT_TIMEOUT_USEC };
        char *error = NULL;
        int opt, k;

        while ((opt = getopt_long(argc, argv, "+c:q:o:h", options, NULL)) >= 0)
                if ((k = take_option(opt, &c, &config_path, NULL)) >= 0)
                        return k;
        if (optind >= argc) {
                usage(stderr);
                return EX_USAGE;
        }
        /* Options may also follow the command: pdfspoolctl list --json */
        const char *name = argv[optind];
        const struct command *cmd = find_command(name);
        if (!cmd) {
                fprintf(stderr, "pdfspoolctl: unknown command \"%s\"\n", name);
                usage(stderr);
                return EX_USAGE;
        }
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0; /* 0, not 1: GNU getopt then forgets the first pass's "+" (stop at the command) and permutes */
        while ((opt = getopt_long(sub_argc, sub_argv, "c:q:o:h", options, NULL)) >= 0)
                if ((k = take_option(opt, &c, &config_path, cmd)) >= 0)
                        return k;
        /* what is left: the command's own arguments */
        char **args = xcalloc((size_t) (sub_argc - optind + 2), sizeof(char *));
        args[0] = (char *) name;
        int nargs = 1;
        for (int i = optind; i < sub_argc; i++)
                args[nargs++] = sub_argv[i];

        if (config_load(config_path, &c.config, &error) < 0) {
                fprintf(stderr, "pdfspoolctl: %s\n", error ? error : "cannot read the configuration");
                free(error);
                free(args);
                return EX_CONFIG;
        }
        if (c.queue && !config_find_queue(c.config, c.queue)) {
                fprintf(stderr, "pdfspoolctl: no queue \"%s\" in %s\n", c.queue, config_path);
                config_free(c.config);
                free(args);
                return EXIT_REFUSED;
        }
        int r = cmd->run(&c, nargs, args);
        config_free(c.config);
        free(args);
        return r;
}
