/* progress.c: pdfspoolctl watch.
 *
 * Every folder of a watched batch is watched with inotify; the daemon replaces
 * status files by rename, so IN_MOVED_TO of a status.json is a change. A job
 * is known by its folder; its last seen state is kept to tell started, done
 * and failed apart. Memory grows with the number of jobs (one name and state
 * each), not with their files. */
#include "progress.h"
#include "fsutil.h"
#include "model.h"
#include "status.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>



#define MAX_DEPTH 64

struct watched_batch {
        char *id, *outbox;
        json_t *status;        /* the batch's status.json as last read */
        json_t *jobs;          /* job name -> last state seen */
        bool finished;
        struct watched_batch *next;
};

struct dir_watch {
        int wd;
        struct watched_batch *batch; /* NULL: a queue's outbox */
        char *outbox;          /* for an outbox */
        char *rel;             /* folder inside the batch, "" for its top */
};

struct progress {
        int fd;
        bool json, tty, all;
        const char *only;      /* BATCH, or NULL with --all */
        struct watched_batch *batches;
        struct dir_watch *dirs;
        size_t n_dirs;
        unsigned lines_drawn;
};

static const char *str(const json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static long long num(const json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

static bool state_finished(const char *state) {
        return strcmp(state, "done") == 0 || strcmp(state, "canceled") == 0;
}

static void emit(struct progress *p, json_t *event) {
        char now[40];

        json_object_set_new(event, "time", json_string(format_rfc3339(now, sizeof(now), now_usec(CLOCK_REALTIME))));
        if (p->json) {
                json_dumpf(event, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
                putchar('\n');
                fflush(stdout);
        }
        json_decref(event);
}

/* "b1: 7/10 done, 1 failed, 2 queued, 1.5 pages/s, ETA 0:12" */
static void batch_line(const struct watched_batch *b, char *buf, size_t size, bool bar) {
        const json_t *c = json_object_get(b->status, "jobs");
        long long total = num(c, "total") - num(c, "skipped"), done = num(c, "done"), failed = num(c, "failed");
        long long canceled = num(c, "canceled"), ended = done + failed + canceled;
        const json_t *t = json_object_get(b->status, "throughput");
        double pps = json_number_value(json_object_get(t, "pages_per_second"));
        double jps = json_number_value(json_object_get(t, "jobs_per_second"));
        char eta[32] = "-", meter[24] = "";

        if (jps > 0 && total > ended) {
                long long s = (long long) ((double) (total - ended) / jps);
                snprintf(eta, sizeof(eta), "%lld:%02lld", s / 60, s % 60);
        }
        if (bar) {
                int width = 20, fill = total > 0 ? (int) (ended * width / total) : width;
                meter[0] = '[';
                for (int i = 0; i < width; i++)
                        meter[1 + i] = i < fill ? '#' : '.';
                meter[width + 1] = ']';
                meter[width + 2] = 0;
        }
        snprintf(buf, size, "%s: %s%s%s, %lld/%lld done, %lld failed, %lld queued, %lld processing, %.1f pages/s, ETA %s",
                 b->id, meter, bar ? " " : "", str(b->status, "state"), done, total, failed, num(c, "queued"),
                 num(c, "processing"), pps, b->finished ? "-" : eta);
}

static void redraw(struct progress *p) {
        char line[512];

        if (p->json || !p->tty)
                return;
        struct winsize ws = {};
        /* A line longer than the terminal would wrap and spoil the redraw in place. */
        int width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : (int) sizeof(line) - 1;

        if (p->lines_drawn > 0)
                printf("\033[%uA", p->lines_drawn);
        p->lines_drawn = 0;
        for (struct watched_batch *b = p->batches; b; b = b->next) {
                batch_line(b, line, sizeof(line), true);
                printf("\r\033[K%.*s\n", width, line);
                p->lines_drawn++;
        }
        fflush(stdout);
}

static void say_change(struct progress *p, struct watched_batch *b, const char *what) {
        char line[512];

        if (p->json || p->tty)
                return;
        batch_line(b, line, sizeof(line), false);
        printf("%s%s%s\n", line, what ? ": " : "", what ? what : "");
        fflush(stdout);
}

static void job_changed(struct progress *p, struct watched_batch *b, const char *job_path) {
        json_t *j = status_load(AT_FDCWD, job_path);
        const char *name = str(j, "job"), *state = str(j, "state");

        if (!j || !name[0])
                goto out;
        const char *before = json_string_value(json_object_get(b->jobs, name));
        if (before && strcmp(before, state) == 0)
                goto out;
        json_object_set_new(b->jobs, name, json_string(state));
        const char *event = strcmp(state, "processing") == 0 ? "job_started"
                          : strcmp(state, "done") == 0 ? "job_done"
                          : strcmp(state, "failed") == 0 ? "job_failed"
                          : strcmp(state, "canceled") == 0 ? "job_canceled" : NULL;
        if (!event || (!before && strcmp(state, "processing") != 0 && !p->json))
                goto out;
        /* A job that runs elsewhere says where (a Slurm job: "runner"). */
        const char *runner = json_string_value(json_object_get(j, "runner"));
        json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:I,s:O,s:f}", "event", event, "batch", b->id, "job", name, "state", state,
                               "pages", (json_int_t) num(j, "pages"), "error", json_object_get(j, "error") ? json_object_get(j, "error") : json_null(),
                               "seconds", json_number_value(json_object_get(j, "seconds")));
        if (ev && runner)
                json_object_set_new(ev, "runner", json_string(runner));
        emit(p, ev);
        char *what = xasprintf("%s %s%s%s%s%s%s", name, strcmp(state, "processing") == 0 ? "started" : state,
                               runner ? " (" : "", runner ? runner : "", runner ? ")" : "",
                               json_is_string(json_object_get(j, "error")) ? ": " : "", str(j, "error"));
        say_change(p, b, what);
        free(what);
out:
        json_decref(j);
}

static void batch_changed(struct progress *p, struct watched_batch *b) {
        char *path = xasprintf("%s/%s/" STATUS_FILE, b->outbox, b->id);
        json_t *s = status_load(AT_FDCWD, path);

        free(path);
        if (!s)
                return;
        json_decref(b->status);
        b->status = s;
        if (!b->finished && state_finished(str(s, "state"))) {
                b->finished = true;
                emit(p, json_pack("{s:s,s:s,s:s,s:O}", "event", "batch_finished", "batch", b->id, "state",
                                  str(s, "state"), "jobs", json_object_get(s, "jobs")));
                say_change(p, b, "finished");
        }
}

static void add_dir(struct progress *p, struct watched_batch *b, const char *outbox, const char *rel, int depth);

/* Jobs and sub-folders of a folder just watched: what was there before the watch. */
static void scan_dir(struct progress *p, struct watched_batch *b, const char *rel, int depth) {
        char *path = rel[0] ? xasprintf("%s/%s/%s", b->outbox, b->id, rel) : xasprintf("%s/%s", b->outbox, b->id);
        DIR *d = opendir(path);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && !fs_dot_or_dotdot(de->d_name) &&
                            strncmp(de->d_name, ".pdfspool-tmp.", 14) != 0) {
                                char *sub = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
                                add_dir(p, b, b->outbox, sub, depth + 1);
                                free(sub);
                        }
                closedir(d);
        }
        if (rel[0]) {
                char *st = xasprintf("%s/" STATUS_FILE, path);
                job_changed(p, b, st);
                free(st);
        }
        free(path);
}

static void add_dir(struct progress *p, struct watched_batch *b, const char *outbox, const char *rel, int depth) {
        char *path = !b ? xstrdup(outbox) : rel[0] ? xasprintf("%s/%s/%s", outbox, b->id, rel)
                                                   : xasprintf("%s/%s", outbox, b->id);
        int wd = depth > MAX_DEPTH ? -1 : inotify_add_watch(p->fd, path, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR);

        if (wd < 0) {
                free(path);
                return;
        }
        for (size_t i = 0; i < p->n_dirs; i++) {
                if (p->dirs[i].wd != wd)
                        continue;
                /* inotify gives one watch per folder: a pending batch folder becomes the batch's */
                if (b && !p->dirs[i].batch && p->dirs[i].rel[0] && !rel[0]) {
                        p->dirs[i].batch = b;
                        free(p->dirs[i].rel);
                        p->dirs[i].rel = xstrdup("");
                        (void) inotify_add_watch(p->fd, path, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR);
                        scan_dir(p, b, rel, depth);
                }
                free(path);
                return; /* already watched */
        }
        p->dirs = xrealloc(p->dirs, (p->n_dirs + 1) * sizeof(*p->dirs));
        p->dirs[p->n_dirs++] = (struct dir_watch) { .wd = wd, .batch = b, .outbox = xstrdup(outbox),
                                                    .rel = xstrdup(rel ? rel : "") };
        free(path);
        if (b)
                scan_dir(p, b, rel, depth);
}

static struct watched_batch *add_batch(struct progress *p, const char *outbox, const char *id) {
        char *path = xasprintf("%s/%s/" STATUS_FILE, outbox, id);
        json_t *s = status_load(AT_FDCWD, path);

        free(path);
        if (!s)
                return NULL;
        for (struct watched_batch *b = p->batches; b; b = b->next)
                if (strcmp(b->id, id) == 0 && strcmp(b->outbox, outbox) == 0) {
                        json_decref(s);
                        return b;
                }
        struct watched_batch *b = xcalloc(1, sizeof(*b)), **end = &p->batches;
        b->id = xstrdup(id);
        b->outbox = xstrdup(outbox);
        b->status = s;
        b->jobs = json_object();
        while (*end)
                end = &(*end)->next;
        *end = b;
        /* Its folders watched and its jobs read as they are now: a batch that is
         * already finished is reported in full at once. */
        add_dir(p, b, outbox, "", 0);
        if (state_finished(str(s, "state"))) {
                b->finished = true;
                emit(p, json_pack("{s:s,s:s,s:s,s:O}", "event", "batch_finished", "batch", b->id, "state",
                                  str(s, "state"), "jobs", json_object_get(s, "jobs")));
                say_change(p, b, "finished");
                return b;
        }
        batch_changed(p, b);
        return b;
}

/* A folder in an outbox that has no status.json yet. */
static void add_pending(struct progress *p, const char *outbox, const char *id) {
        char *path = xasprintf("%s/%s", outbox, id);
        int wd = inotify_add_watch(p->fd, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);

        free(path);
        if (wd < 0)
                return;
        p->dirs = xrealloc(p->dirs, (p->n_dirs + 1) * sizeof(*p->dirs));
        p->dirs[p->n_dirs++] = (struct dir_watch) { .wd = wd, .outbox = xstrdup(outbox), .rel = xstrdup(id) };
        (void) add_batch(p, outbox, id); /* it may have come meanwhile */
}

static bool all_finished(const struct progress *p) {
        for (const struct watched_batch *b = p->batches; b; b = b->next)
                if (!b->finished)
                        return false;
        return true;
}

static void on_event(struct progress *p, const struct inotify_event *e) {
        struct dir_watch *w = NULL;

        for (size_t i = 0; i < p->n_dirs && !w; i++)
                if (p->dirs[i].wd == e->wd)
                        w = &p->dirs[i];
        if (!w || !e->len)
                return;
        if (!w->batch && !w->rel[0]) {
                /* a queue's outbox: a new batch folder; watched as a batch once its status shows */
                const char *outbox = w->outbox; /* W itself may move: add_batch grows the table */
                if (p->all && (e->mask & IN_ISDIR) && e->name[0] != '.' && !add_batch(p, outbox, e->name))
                        add_pending(p, outbox, e->name);
                return;
        }
        if (!w->batch) {
                if (strcmp(e->name, STATUS_FILE) == 0) {
                        char *id = xstrdup(w->rel);
                        (void) add_batch(p, w->outbox, id);
                        free(id);
                }
                return;
        }
        struct watched_batch *b = w->batch;
        if (e->mask & IN_ISDIR) {
                if (strncmp(e->name, ".pdfspool-tmp.", 14) != 0) {
                        char *sub = w->rel[0] ? xasprintf("%s/%s", w->rel, e->name) : xstrdup(e->name);
                        add_dir(p, b, b->outbox, sub, 1);
                        free(sub);
                }
                return;
        }
        if (strcmp(e->name, STATUS_FILE) != 0)
                return;
        if (!w->rel[0])
                batch_changed(p, b);
        else {
                char *path = xasprintf("%s/%s/%s/" STATUS_FILE, b->outbox, b->id, w->rel);
                job_changed(p, b, path);
                free(path);
        }
}

/* A batch folder of --all made before its status.json: look again when it shows. */
static void retry_new_batches(struct progress *p) {
        for (size_t i = 0; p->all && i < p->n_dirs; i++) {
                if (p->dirs[i].batch || p->dirs[i].rel[0])
                        continue;
                DIR *d = opendir(p->dirs[i].outbox);
                struct dirent *de;
                if (!d)
                        continue;
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                                bool known = false;
                                for (struct watched_batch *b = p->batches; b && !known; b = b->next)
                                        known = strcmp(b->id, de->d_name) == 0 && strcmp(b->outbox, p->dirs[i].outbox) == 0;
                                if (!known)
                                        (void) add_batch(p, p->dirs[i].outbox, de->d_name);
                        }
                closedir(d);
        }
}

static int exit_code(const struct progress *p) {
        int code = PROGRESS_ALL_DONE;

        for (const struct watched_batch *b = p->batches; b; b = b->next) {
                if (strcmp(str(b->status, "state"), "canceled") == 0)
                        return PROGRESS_CANCELED;
                if (num(json_object_get(b->status, "jobs"), "failed") > 0)
                        code = PROGRESS_FAILED;
        }
        return code;
}

static void progress_free(struct progress *p) {
        for (struct watched_batch *b = p->batches, *next; b; b = next) {
                next = b->next;
                free(b->id);
                free(b->outbox);
                json_decref(b->status);
                json_decref(b->jobs);
                free(b);
        }
        for (size_t i = 0; i < p->n_dirs; i++) {
                free(p->dirs[i].outbox);
                free(p->dirs[i].rel);
        }
        free(p->dirs);
        if (p->fd >= 0)
                close(p->fd);
}

int progress_watch(const struct config *c, const char *queue, const char *batch, bool json) {
        struct progress p = { .json = json, .tty = isatty(STDOUT_FILENO), .all = !batch, .only = batch };
        int code;

        p.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (p.fd < 0) {
                fprintf(stderr, "pdfspoolctl watch: inotify: %s\n", strerror(errno));
                return PROGRESS_NOT_FOUND;
        }
        for (size_t i = 0; i < c->n_queues; i++) {
                const struct queue_config *qc = &c->queues[i];
                if (queue && strcmp(queue, qc->name) != 0)
                        continue;
                if (batch) {
                        if (!p.batches)
                                (void) add_batch(&p, qc->outbox, batch);
                        continue;
                }
                add_dir(&p, NULL, qc->outbox, "", 0);
                DIR *d = opendir(qc->outbox);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
                                continue;
                        char *path = xasprintf("%s/%s/" STATUS_FILE, qc->outbox, de->d_name);
                        json_t *s = status_load(AT_FDCWD, path);
                        free(path);
                        /* --all: the batches still running, and those that come */
                        if (s && !state_finished(str(s, "state")))
                                (void) add_batch(&p, qc->outbox, de->d_name);
                        json_decref(s);
                }
                if (d)
                        closedir(d);
        }
        if (batch && !p.batches) {
                fprintf(stderr, "pdfspoolctl: no batch \"%s\"%s%s\n", batch, queue ? " in queue " : " in any queue",
                        queue ? queue : "");
                progress_free(&p);
                return PROGRESS_NOT_FOUND;
        }
        redraw(&p);
        while (!all_finished(&p) || (p.all && !p.batches)) {
                if (p.all && !p.batches) {
                        if (!json)
                                printf("no batch is running\n");
                        break;
                }
                struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
                /* On a terminal the display is redrawn every second (ETA moves); otherwise
                 * nothing happens without an event. */
                int n = poll(&pfd, 1, p.tty && !json ? 1000 : -1);
                if (n < 0 && errno != EINTR)
                        break;
                char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)] __attribute__((aligned(__alignof__(struct inotify_event))));
                ssize_t len;
                bool overflow = false;
                while ((len = read(p.fd, buf, sizeof(buf))) > 0)
                        for (char *ptr = buf; ptr < buf + len;) {
                                const struct inotify_event *e = (const struct inotify_event *) ptr;
                                if (e->mask & IN_Q_OVERFLOW)
                                        overflow = true;
                                else
                                        on_event(&p, e);
                                ptr += sizeof(struct inotify_event) + e->len;
                        }
                if (overflow) {
                        /* events were lost: read every watched batch again */
                        for (struct watched_batch *b = p.batches; b; b = b->next)
                                if (!b->finished) {
                                        scan_dir(&p, b, "", 0);
                                        batch_changed(&p, b);
                                }
                        retry_new_batches(&p);
                }
                redraw(&p);
        }
        redraw(&p);
        code = exit_code(&p);
        if (!json)
                printf("%s\n", code == PROGRESS_ALL_DONE ? "finished: every job done"
                               : code == PROGRESS_FAILED ? "finished: some jobs failed" : "finished: canceled");
        if (json)
                emit(&p, json_pack("{s:s,s:s}", "event", "watch_ended", "result",
                                   code == PROGRESS_ALL_DONE ? "done" : code == PROGRESS_FAILED ? "failed" : "canceled"));
        progress_free(&p);
        return code;
}
