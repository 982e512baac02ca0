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

#include "config.h"
#include "fsutil.h"
#include "names.h"
#include "statelock.h"
#include "status.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/pdfspool/pdfspool.yaml"

struct ctl {
        struct config *config;
        bool json;
        const char *queue;      /* -q: only this queue */
};

static json_t *load_status(int dirfd, const char *path) {
        int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        json_t *j;

        if (fd < 0)
                return NULL;
        j = json_loadfd(fd, 0, NULL);
        close(fd);
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
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

/* Every job status below the batch's folder (jobs may sit in sub-folders). */
static void collect_jobs(int dirfd, const char *prefix, json_t *out, int depth) {
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
                json_t *j = load_status(dirfd, p);
                if (j && json_object_get(j, "job"))
                        json_array_append_new(out, j);
                else
                        json_decref(j);
                collect_jobs(dirfd, sub, out, depth + 1);
                free(p);
                free(sub);
        }
        closedir(d);
}

static int compare_job(const void *a, const void *b) {
        return strcmp(str(*(json_t *const *) a, "job"), str(*(json_t *const *) b, "job"));
}

static int cmd_status(struct ctl *c, int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "Usage: pdfspoolctl status BATCH\n");
                return EX_USAGE;
        }
        const char *id = argv[1];
        if (!id[0] || id[0] == '.' || strchr(id, '/')) {
                fprintf(stderr, "pdfspoolctl: \"%s\" is not a batch id\n", id);
                return 1;
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
                if (!batch) {
                        close(fd);
                        continue;
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
                if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
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
        fprintf(stderr, "pdfspoolctl: no batch \"%s\"%s%s\n", id, c->queue ? " in queue " : " in any queue",
                c->queue ? c->queue : "");
        return 1;
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
        for (size_t i = 0; i < c->config->n_queues; i++) {
                const struct queue_config *qc = &c->config->queues[i];
                if (!queue_selected(c, qc))
                        continue;
                const char *in = folder_problem(qc->inbox), *out;
                json_t *inbox = folder_json(qc->inbox, in);
                out = folder_problem(qc->outbox);
                json_array_append_new(queues, json_pack("{s:s,s:o,s:o}", "queue", qc->name, "inbox", inbox, "outbox",
                                                        folder_json(qc->outbox, out)));
                if ((in || out) && code == HEALTH_OK)
                        code = HEALTH_QUEUE_UNREACHABLE;
        }
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
        { "health", "", "whether a daemon holds the state_dir (exit 3: none), and each queue's folders", cmd_health },
};

static void usage(FILE *f) {
        fprintf(f, "Usage: pdfspoolctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-7s %-6s %s\n", commands[i].name, commands[i].args, commands[i].help);
        fprintf(f, "\nOptions:\n"
                   "  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
                   "  -q, --queue NAME   only this queue\n"
                   "      --json         machine-readable output\n"
                   "  -h, --help         show this help\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "queue", required_argument, NULL, 'q' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *config_path = DEFAULT_CONFIG;
        struct ctl c = {};
        char *error = NULL;
        int opt;

        while ((opt = getopt_long(argc, argv, "+c:q:h", options, NULL)) >= 0)
                switch (opt) {
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
        optind = 1;
        while ((opt = getopt_long(sub_argc, sub_argv, "c:q:h", options, NULL)) >= 0)
                switch (opt) {
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
