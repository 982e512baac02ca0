/* pdfspoolctl.c: the command-line client, a table of commands.
 *
 * It reads the outbox's status files, the same ones people and other tools
 * read; it never needs the daemon's memory, nor the daemon to be running.
 * "health" asks the kernel whether a daemon holds the state directory's lock. */
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

#include "catalog.h"
#include "config.h"
#include "export.h"
#include "fsutil.h"
#include "intake.h"
#include "names.h"
#include "progress.h"
#include "statelock.h"
#include "status.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/pdfspool/pdfspool.yaml"

struct ctl {
        struct config *config;
        bool json;
        const char *queue;      /* -q: only this queue */
        const char *output;     /* export -o */
        bool with_originals;    /* export --with-originals */
        bool all;               /* watch --all */
};

static json_t *load_status(int dirfd, const char *path) {
        return status_load(dirfd, path);
}

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

static int compare_created(const void *a, const void *b) {
        const char *x = str(*(json_t *const *) a, "created"), *y = str(*(json_t *const *) b, "created");
        return strcmp(x, y);
}

static bool queue_selected(const struct ctl *c, const struct queue_config *qc) {
        return !c->queue || strcmp(c->queue, qc->name) == 0;
}

static int cmd_list(struct ctl *c, int argc, char **argv) {
        json_t **rows = NULL;
        size_t n = 0;

        if (argc > 1) {
                fprintf(stderr, "pdfspoolctl list: takes no arguments\n");
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
                        json_t *j = load_status(dirfd(d), p);
                        free(p);
                        if (!j)
                                continue;
                        rows = xrealloc(rows, (n + 1) * sizeof(json_t *));
                        rows[n++] = j;
                }
                closedir(d);
        }
        qsort(rows, n, sizeof(json_t *), compare_created);
        if (c->json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append(a, rows[i]);
                json_dumpf(a, stdout, JSON_INDENT(2));
                putchar('\n');
                json_decref(a);
        } else {
                printf("%-32s %-12s %-10s %11s %6s %7s %5s\n", "BATCH", "QUEUE", "STATE", "DONE/TOTAL", "FAILED",
                       "SKIPPED", "AGE");
                for (size_t i = 0; i < n; i++) {
                        json_t *jobs = json_object_get(rows[i], "jobs");
                        char done[48], age[32];
                        snprintf(done, sizeof(done), "%lld/%lld", num(jobs, "done"),
                                 num(jobs, "total") - num(jobs, "skipped"));
                        format_age(json_string_value(json_object_get(rows[i], "created")), age, sizeof(age));
                        printf("%-32s %-12s %-10s %11s %6lld %7lld %5s\n", str(rows[i], "batch"), str(rows[i], "queue"),
                               str(rows[i], "state"), done, num(jobs, "failed"), num(jobs, "skipped"), age);
                }
        }
        for (size_t i = 0; i < n; i++)
                json_decref(rows[i]);
        free(rows);
        return 0;
}

static void collect_jobs(int dirfd, const char *prefix, json_t *out, int depth) {
        status_collect_jobs(dirfd, prefix, out, depth);
}

static int compare_job(const void *a, const void *b) {
        return strcmp(str(*(json_t *const *) a, "job"), str(*(json_t *const *) b, "job"));
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
                json_t *batch = load_status(fd, p);
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

static int cmd_status(struct ctl *c, int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "Usage: pdfspoolctl status BATCH\n");
                return EX_USAGE;
        }
        const char *id = argv[1];
        int fd = open_batch_outbox(c, id, NULL);
        if (fd < 0)
                return 1;
        {
                char *p = xasprintf("%s/" STATUS_FILE, id);
                json_t *batch = load_status(fd, p);
                free(p);
                if (!batch) {
                        close(fd);
                        fprintf(stderr, "pdfspoolctl: batch \"%s\" is gone\n", id);
                        return 1;
                }
                int bfd = openat(fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                json_t *jobs = json_array();
                if (bfd >= 0) {
                        collect_jobs(bfd, "", jobs, 0);
                        close(bfd);
                }
                close(fd);
                size_t n = json_array_size(jobs);
                json_t **sorted = xcalloc(n, sizeof(json_t *));
                for (size_t k = 0; k < n; k++)
                        sorted[k] = json_array_get(jobs, k);
                qsort(sorted, n, sizeof(json_t *), compare_job);
                if (c->json) {
                        json_t *sorted_array = json_array();
                        for (size_t k = 0; k < n; k++)
                                json_array_append(sorted_array, sorted[k]);
                        json_t *out = json_pack("{s:O,s:o}", "batch", batch, "jobs", sorted_array);
                        json_dumpf(out, stdout, JSON_INDENT(2));
                        putchar('\n');
                        json_decref(out);
                } else {
                        json_t *counts = json_object_get(batch, "jobs");
                        printf("Batch:    %s\nQueue:    %s\nState:    %s\n", str(batch, "batch"), str(batch, "queue"),
                               str(batch, "state"));
                        printf("Jobs:     %lld total: %lld done, %lld failed, %lld queued, %lld processing, "
                               "%lld canceled, %lld skipped\n",
                               num(counts, "total"), num(counts, "done"), num(counts, "failed"), num(counts, "queued"),
                               num(counts, "processing"), num(counts, "canceled"), num(counts, "skipped"));
                        printf("Pages:    %lld\nCreated:  %s\nStarted:  %s\nFinished: %s\n", num(batch, "pages_done"),
                               str(batch, "created"), str(batch, "started"), str(batch, "finished"));
                        printf("\n%-40s %-10s %5s %8s  %s\n", "JOB", "STATE", "PAGES", "SECONDS", "ERROR");
                        for (size_t k = 0; k < n; k++)
                                printf("%-40s %-10s %5lld %8.2f  %s\n", str(sorted[k], "job"), str(sorted[k], "state"),
                                       num(sorted[k], "pages"), json_number_value(json_object_get(sorted[k], "seconds")),
                                       json_is_string(json_object_get(sorted[k], "error")) ? str(sorted[k], "error") : "");
                        json_t *skipped = json_object_get(batch, "skipped");
                        for (size_t k = 0; k < json_array_size(skipped); k++) {
                                json_t *s = json_array_get(skipped, k);
                                printf("%-40s %-10s %5s %8s  %s\n", str(s, "source"), "skipped", "", "", str(s, "reason"));
                        }
                }
                free(sorted);
                json_decref(jobs);
                json_decref(batch);
                return 0;
        }
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
        json_t *daemon = json_pack("{s:b}", "running", held > 0);
        if (held > 0 && h.known)
                json_object_update_new(daemon, json_pack("{s:I,s:s}", "pid", (json_int_t) h.pid, "host", h.host));
        if (held < 0)
                json_object_set_new(daemon, "error", json_string(strerror(-held)));
        json_t *queues = json_array();
        /* What the running daemon sees of each inbox (how it watches, holds): its own view. */
        int sd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        json_t *seen = held > 0 && sd >= 0 ? load_status(sd, INTAKE_QUEUES_FILE) : NULL;
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
        if (held > 0 && h.known)
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
        }
        json_decref(daemon);
        json_decref(queues);
        return code;
}

static const struct command {
        const char *name;
        const char *args;
        const char *help;
        int (*run)(struct ctl *c, int argc, char **argv);
} commands[] = {
        { "list", "", "one line per batch: id, queue, state, done/total, failed, skipped, age", cmd_list },
        { "status", "BATCH", "the batch and each of its jobs", cmd_status },
        { "export", "BATCH", "the batch's outbox folder as a ZIP (-o FILE or -, --with-originals)", cmd_export },
        { "watch", "BATCH|--all", "live progress until it ends (exit 0 all done, 4 some failed, 5 canceled)", cmd_watch },
        { "health", "", "whether a daemon holds the state_dir (exit 3: none), and each queue's folders", cmd_health },
        { "parts", "BATCH", "the batch's parts catalog (part, manufacturer, package, ranges, datasheet)", cmd_parts },
        { "diff", "A B", "batch B against batch A part by part: added, removed, changed facts and table values", cmd_diff },
};

static void usage(FILE *f) {
        fprintf(f, "Usage: pdfspoolctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-7s %-11s %s\n", commands[i].name, commands[i].args, commands[i].help);
        fprintf(f, "\nOptions:\n"
                   "  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
                   "  -q, --queue NAME   only this queue\n"
                   "      --json         machine-readable output\n"
                   "  -o, --output FILE  export: where the ZIP goes (- for stdout; default BATCH.zip)\n"
                   "      --with-originals  export: the original PDFs too\n"
                   "      --all          watch: every batch\n"
                   "  -h, --help         show this help\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "queue", required_argument, NULL, 'q' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                { "with-originals", no_argument, NULL, 'O' },
                { "all", no_argument, NULL, 'A' },
                {}
        };
        const char *config_path = DEFAULT_CONFIG;
        struct ctl c = {};
        char *error = NULL;
        int opt;

        while ((opt = getopt_long(argc, argv, "+c:q:h", options, NULL)) >= 0)
                switch (opt) {
                case 'o': case 'O': case 'A': usage(stderr); return EX_USAGE;
                case 'c': config_path = optarg; break;
                case 'q': c.queue = optarg; break;
                case 'j': c.json = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return EX_USAGE;
                }
        if (optind >= argc) {
                usage(stderr);
                return EX_USAGE;
        }
        /* Options may also follow the command: pdfspoolctl list --json */
        const char *name = argv[optind];
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0; /* 0: glibc starts afresh, permuting (the first pass stopped at the command) */
        while ((opt = getopt_long(sub_argc, sub_argv, "c:q:o:h", options, NULL)) >= 0)
                switch (opt) {
                case 'o': c.output = optarg; break;
                case 'O': c.with_originals = true; break;
                case 'A': c.all = true; break;
                case 'c': config_path = optarg; break;
                case 'q': c.queue = optarg; break;
                case 'j': c.json = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return EX_USAGE;
                }
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
                return 1;
        }
        int r = -1;
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        r = commands[i].run(&c, nargs, args);
        if (r < 0) {
                fprintf(stderr, "pdfspoolctl: unknown command \"%s\"\n", name);
                usage(stderr);
                r = EX_USAGE;
        }
        config_free(c.config);
        free(args);
        return r;
}
