/* slurm.c: the Slurm executor (slurm.h): chunks of queued jobs submitted with
 * sbatch, their outcomes read from the result files the batch worker writes
 * into the spool and from Slurm's job states, cancels with scancel, and the
 * reconciliation with Slurm at start. Like pool.c it only calls down into the
 * store (spool_job_start/finish/requeue/retry/adopt).
 *
 * Slurm's tools run as short children the daemon waits for: one sbatch per
 * chunk and one scontrol per poll, each bounded by COMMAND_TIMEOUT_MSEC, and
 * submitting stops for the pass once DISPATCH_BUDGET_USEC went by, so that a
 * controller that does not answer stalls the loop for seconds, never past the
 * service's 30 s watchdog. */
#include "slurm.h"
#include "profile.h"
#include "log.h"
#include "names.h"
#include "scheduler.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define COMMAND_TIMEOUT_MSEC 8000
#define DISPATCH_BUDGET_USEC (2 * USEC_PER_SEC)
#define COMMAND_OUTPUT_MAX (16 << 20)
#define CANCELED_WHILE_RUNNING "canceled by request while it ran"

struct chunk {
        char *name;             /* folder name under <state_dir>/slurm */
        char *dir;              /* its absolute path */
        char *slurm_id;         /* NULL until sbatch (or, after a crash, scontrol) said it */
        struct job **jobs;      /* NULL once that job ended here */
        size_t n_jobs;
        bool *cancel;           /* jobs a request canceled: end canceled when Slurm's job is gone */
        bool scancel_sent;
        struct slurm *x;        /* whose it is */
        struct chunk *next;
};

struct slurm {
        struct spool *spool;
        char *worker_path;
        char *dir;              /* <state_dir>/slurm */
        struct chunk *chunks;
        unsigned serial;
        sd_event_source *poll_timer;
        bool stopping;
        bool blocked;           /* a chunk left by a previous run could not be read: submit nothing */
        int said_error;         /* the last poll's failure, said once until it changes */
        slurm_extracted_fn on_extracted; /* a done job's filters, then its end (daemon.c) */
        void *extracted_userdata;
};

void slurm_set_extracted_handler(struct slurm *x, slurm_extracted_fn fn, void *userdata) {
        x->on_extracted = fn;
        x->extracted_userdata = userdata;
}

static const struct slurm_config *cfg(const struct slurm *x) {
        return &x->spool->config->slurm;
}

static struct log_ctx job_ctx(const struct job *j) {
        return (struct log_ctx) { .queue = j->batch->queue->name, .batch = j->batch->id, .job = j->name };
}

/* ---- running Slurm's tools ---- */

/* Run ARGV (searched in PATH), its stdout and stderr in *RET_OUTPUT. Returns
 * its exit status (>= 0) or -errno when it could not run or timed out. */
static int run_command(char *const *argv, char **ret_output) {
        int pipefd[2];

        *ret_output = NULL;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(pipefd[1]);
        size_t len = 0, size = 4096;
        char *buf = xmalloc(size);
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + COMMAND_TIMEOUT_MSEC * 1000ULL;
        int r = 0;
        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
                int n = now >= deadline ? 0 : poll(&p, 1, (int) ((deadline - now) / 1000) + 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -ETIMEDOUT;
                        (void) kill(pid, SIGKILL);
                        break;
                }
                if (len + 1 >= size) {
                        if (size >= COMMAND_OUTPUT_MAX) {
                                r = -EFBIG;
                                (void) kill(pid, SIGKILL);
                                break;
                        }
                        buf = xrealloc(buf, size *= 2);
                }
                ssize_t k = read(pipefd[0], buf + len, size - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        close(pipefd[0]);
        buf[len] = 0;
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        r = r ? r : -errno;
                        break;
                }
        if (r == 0)
                r = WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
        /* The last line is what a person needs to see. */
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = 0;
        *ret_output = buf;
        return r;
}

/* Slurm's view of its jobs: "scontrol show job -o", one line per job that
 * the controller still holds (ended ones for MinJobAge). */
struct slurm_job {
        char *id, *state, *reason, *exit_code, *work_dir, *nodes;
};

static char *field(const char *line, const char *key) {
        size_t n = strlen(key);

        for (const char *p = line; (p = strstr(p, key)); p += n)
                if ((p == line || p[-1] == ' ') && p[n] == '=') {
                        const char *v = p + n + 1, *end = strchrnul(v, ' ');
                        /* WorkDir may hold spaces: it runs to the next " Key=". */
                        if (strcmp(key, "WorkDir") == 0)
                                for (end = v; *end; end++)
                                        if (*end == ' ' && strchr(end + 1, '=') &&
                                            strcspn(end + 1, " =") == (size_t) (strchr(end + 1, '=') - end - 1))
                                                break;
                        return xstrndup(v, (size_t) (end - v));
                }
        return NULL;
}

static void slurm_jobs_free(struct slurm_job *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].id);
                free(v[i].state);
                free(v[i].reason);
                free(v[i].exit_code);
                free(v[i].work_dir);
                free(v[i].nodes);
        }
        free(v);
}

/* Our jobs (named pdfspool:...). -errno when Slurm could not be asked. */
static int list_slurm_jobs(struct slurm_job **ret, size_t *ret_n, char **ret_why) {
        char *argv[] = { "scontrol", "--oneliner", "show", "job", NULL }, *out = NULL;
        int r = run_command(argv, &out);
        struct slurm_job *v = NULL;
        size_t n = 0;

        *ret_why = NULL;
        if (r != 0) {
                *ret_why = r < 0 ? xasprintf("cannot run scontrol: %s", strerror(-r))
                                 : xasprintf("scontrol show job: %s", out ? out : "failed");
                free(out);
                return r < 0 ? r : -EIO;
        }
        for (char *line = out, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                char *name = field(line, "JobName");
                if (name && strncmp(name, "pdfspool:", 9) == 0) {
                        v = xrealloc(v, (n + 1) * sizeof(*v));
                        v[n++] = (struct slurm_job) {
                                .id = field(line, "JobId"), .state = field(line, "JobState"),
                                .reason = field(line, "Reason"), .exit_code = field(line, "ExitCode"),
                                .work_dir = field(line, "WorkDir"), .nodes = field(line, "NodeList"),
                        };
                }
                free(name);
        }
        free(out);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* A job the controller forgot (purged after MinJobAge): its state from the
 * accounting database, if there is one. NULL when nobody knows. */
static char *sacct_state(const char *id) {
        char *argv[] = { "sacct", "--noheader", "--parsable2", "--allocations", "--format=State", "--jobs",
                         (char *) id, NULL }, *out = NULL;
        int r = run_command(argv, &out);
        char *state = NULL;

        if (r == 0 && out && *out && !strchr(out, ' '))
                state = xstrndup(out, strcspn(out, "\n"));
        free(out);
        return state;
}

static bool state_active(const char *state) {
        static const char *const active[] = { "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED",
                                              "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING",
                                              "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", NULL };
        for (size_t i = 0; active[i]; i++)
                if (strcmp(state, active[i]) == 0)
                        return true;
        return false;
}

/* Why a Slurm job in STATE left a PDF without a result, in words. */
static char *state_reason(const char *state, const struct slurm_job *sj) {
        const char *nodes = sj && sj->nodes && strcmp(sj->nodes, "(null)") != 0 ? sj->nodes : NULL;
        char *where = nodes ? xasprintf(" on %s", nodes) : xstrdup("");
        char *s;

        if (strcmp(state, "NODE_FAIL") == 0)
                s = xasprintf("node failure%s (Slurm job %s)", where, sj ? sj->id : "?");
        else if (strcmp(state, "TIMEOUT") == 0 || strcmp(state, "DEADLINE") == 0)
                s = xasprintf("time limit: the Slurm job ran out of its time (slurm: time_limit)%s", where);
        else if (strcmp(state, "OUT_OF_MEMORY") == 0)
                s = xasprintf("out of memory: the Slurm job went over its memory (slurm: mem, mem_per_cpu)%s", where);
        else if (strcmp(state, "PREEMPTED") == 0)
                s = xasprintf("preempted by Slurm%s", where);
        else if (strcmp(state, "BOOT_FAIL") == 0)
                s = xasprintf("node failure: the node did not boot%s", where);
        else if (strcmp(state, "CANCELLED") == 0)
                s = xasprintf("the Slurm job was canceled outside pdfspool%s", where);
        else if (sj && sj->exit_code && strncmp(sj->exit_code, "3:", 2) == 0)
                s = xasprintf("the worker%s cannot see the spool (is it mounted at the same path there?)", where);
        else
                s = xasprintf("the Slurm job ended %s%s%s%s without a result", state, sj && sj->exit_code ? " (exit " : "",
                              sj && sj->exit_code ? sj->exit_code : "", sj && sj->exit_code ? ")" : "");
        free(where);
        return s;
}

/* ---- chunks ---- */

static void chunk_free(struct chunk *c) {
        free(c->name);
        free(c->dir);
        free(c->slurm_id);
        free(c->jobs);
        free(c->cancel);
        free(c);
}

static size_t chunk_live(const struct chunk *c) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_jobs; i++)
                n += c->jobs[i] != NULL;
        return n;
}

/* Every job of C ended here: its folder goes, then C. */
static void chunk_remove(struct slurm *x, struct chunk *c) {
        int fd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? -errno : fs_remove_tree(fd, c->name);

        if (r < 0 && r != -ENOENT)
                /* Its jobs have ended: what stays is only a folder the next start reconciles again. */
                log_warning("cannot remove %s: %s", c->dir, strerror(-r));
        if (fd >= 0)
                close(fd);
        for (struct chunk **p = &x->chunks; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        chunk_free(c);
}

/* The result of job I of C, if the worker wrote it: 1 (*RET set), 0 (none
 * yet), -errno (could not look: nothing is decided). */
static int read_result(const struct chunk *c, size_t i, json_t **ret) {
        char *path = xasprintf("%s/%s/%zu.json", c->dir, SLURM_RESULTS_DIR, i), *text = NULL;
        int r = fs_read_file(AT_FDCWD, path, 1 << 20, &text, NULL);

        free(path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        *ret = json_loads(text, 0, NULL);
        free(text);
        return *ret ? 1 : -EBADMSG;
}

/* Job I of C has a result: end it as the socket worker's result would (pool.c). */
static void take_result(struct chunk *c, size_t i, json_t *res) {
        struct job *j = c->jobs[i];
        bool ok = json_is_true(json_object_get(res, "ok"));
        const char *error = json_string_value(json_object_get(res, "error"));
        const char *resource = json_string_value(json_object_get(res, "resource_error"));
        int err = (int) json_integer_value(json_object_get(res, "errno"));
        unsigned pages = (unsigned) json_integer_value(json_object_get(res, "pages"));

        c->jobs[i] = NULL;
        job_set_text_layer(j, res);
        if (c->cancel[i])
                (void) spool_job_finish(j, JOB_CANCELED, 0, CANCELED_WHILE_RUNNING); /* too late to count */
        else if (!ok && resource && (errno_is_transient(err) || err == ENOENT))
                spool_job_defer(j, "the worker could not write the job's outputs", err);
        else if (ok && c->x->on_extracted)
                c->x->on_extracted(j, pages, c->x->extracted_userdata); /* its filters, as for local jobs */
        else
                (void) spool_job_finish(j, ok ? JOB_DONE : JOB_FAILED, pages, ok ? NULL : error ? error : "failed");
}

/* Collect the results C's worker wrote so far. -errno when one could not be read. */
static int collect(struct chunk *c) {
        int r = 0;

        for (size_t i = 0; i < c->n_jobs; i++) {
                json_t *res = NULL;
                if (!c->jobs[i])
                        continue;
                int k = read_result(c, i, &res);
                if (k > 0)
                        take_result(c, i, res);
                else if (k < 0 && r == 0)
                        r = k;
                json_decref(res);
        }
        return r;
}

/* C's Slurm job is gone (STATE, NULL: Slurm does not know it any more): the
 * results it wrote count, the rest is canceled, requeued or retried. */
static void chunk_ended(struct slurm *x, struct chunk *c, const char *state, const struct slurm_job *sj) {
        int r = collect(c);

        if (r < 0) {
                /* A result that cannot be read now must not turn into a second run. */
                log_warning("Slurm job %s: cannot read its results in %s: %s; looking again later",
                            c->slurm_id ? c->slurm_id : "?", c->dir, strerror(-r));
                return;
        }
        char *reason = state ? state_reason(state, sj) : NULL;
        for (size_t i = 0; i < c->n_jobs; i++) {
                struct job *j = c->jobs[i];
                if (!j)
                        continue;
                c->jobs[i] = NULL;
                if (c->cancel[i])
                        (void) spool_job_finish(j, JOB_CANCELED, 0, CANCELED_WHILE_RUNNING);
                else if (c->scancel_sent || !state) {
                        /* Stopped for another job's cancel, or lost (never submitted, forgotten
                         * by Slurm without a word): not the file's fault, no attempt counted. */
                        struct log_ctx ctx = job_ctx(j);
                        log_full(LOG_NOTICE, &ctx, 0, NULL, "Slurm job %s %s without its result: the job runs again",
                                 c->slurm_id ? c->slurm_id : "(none)", state ? "was stopped" : "is gone");
                        (void) spool_job_requeue(j);
                } else
                        (void) spool_job_retry(j, reason);
        }
        free(reason);
        chunk_remove(x, c);
}

static int write_submitted(struct chunk *c) {
        return spool_write_record(c->dir, "submitted.json", json_pack("{s:s}", "slurm_job", c->slurm_id), true);
}

/* Say in C's jobs' status where they run: "Slurm job ID STATE". */
static void show_runner(struct chunk *c, const char *state) {
        char *text = xasprintf("Slurm job %s %s", c->slurm_id ? c->slurm_id : "(id not known yet)", state);
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i])
                        spool_job_set_runner(c->jobs[i], text);
        free(text);
}

static void scancel(struct chunk *c) {
        if (!c->slurm_id || c->scancel_sent)
                return;
        char *argv[] = { "scancel", c->slurm_id, NULL }, *out = NULL;
        int r = run_command(argv, &out);
        if (r != 0)
                log_warning("scancel %s: %s", c->slurm_id, r < 0 ? strerror(-r) : out);
        else
                c->scancel_sent = true;
        free(out);
}

/* ---- polling ---- */

static void dispatch(struct slurm *x);
static int reconcile(struct slurm *x);

static void poll_once(struct slurm *x) {
        struct slurm_job *sj = NULL;
        size_t n = 0;
        char *why = NULL;
        int r = x->chunks ? list_slurm_jobs(&sj, &n, &why) : 0;

        if (r < 0) {
                /* Could not look: nothing is decided from it. */
                if (r != x->said_error)
                        log_warning("cannot ask Slurm about its jobs (%s); asking again", why);
                x->said_error = r;
                free(why);
                return;
        }
        if (x->said_error < 0)
                log_notice("Slurm answers again");
        x->said_error = 0;
        for (struct chunk *c = x->chunks, *next; c; c = next) {
                next = c->next;
                const struct slurm_job *found = NULL;
                for (size_t i = 0; i < n && !found; i++)
                        if (c->slurm_id ? strcmp(sj[i].id, c->slurm_id) == 0
                                        : sj[i].work_dir && strcmp(sj[i].work_dir, c->dir) == 0)
                                found = &sj[i];
                if (found && !c->slurm_id) {
                        /* Submitted just before a crash: now we know its id. */
                        c->slurm_id = xstrdup(found->id);
                        (void) write_submitted(c);
                }
                bool any_cancel = false;
                for (size_t i = 0; i < c->n_jobs; i++)
                        any_cancel |= c->jobs[i] && c->cancel[i];
                if (found && any_cancel && !c->scancel_sent && state_active(found->state))
                        scancel(c);
                if (found && state_active(found->state)) {
                        show_runner(c, found->state);
                        (void) collect(c); /* finished PDFs of a running chunk end now */
                        if (chunk_live(c) == 0)
                                chunk_remove(x, c);
                        continue;
                }
                char *state = found ? xstrdup(found->state) : c->slurm_id ? sacct_state(c->slurm_id) : NULL;
                if (state && state_active(state)) {
                        free(state);
                        continue;
                }
                chunk_ended(x, c, state, found);
                free(state);
        }
        slurm_jobs_free(sj, n);
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        struct slurm *x = userdata;

        uint64_t start = now_usec(CLOCK_MONOTONIC);
        if (x->blocked)
                x->blocked = reconcile(x) < 0;
        poll_once(x);
        if (now_usec(CLOCK_MONOTONIC) - start < DISPATCH_BUDGET_USEC)
                dispatch(x); /* else Slurm is slow: submit at the next poll */
        (void) sd_event_source_set_time_relative(s, cfg(x)->poll_interval_usec);
        return 0;
}

/* ---- submitting ---- */

/* Job J as the chunk file says it to the worker on the node: its PDF, where
 * its outputs go, its profile's outputs and its password (the chunk file, like
 * the batch's records, is the daemon's own: mode 0600 in the state directory). */
static json_t *chunk_item(struct job *j, const char *out) {
        struct batch *b = j->batch;
        char *source = xasprintf("%s/%s", b->root, j->source);
        const char *password = job_password(j);
        json_t *item = json_pack("{s:I,s:o,s:o,s:o,s:i,s:o}", "index", (json_int_t) j->index, "claim",
                                 names_to_json_exact(b->claim_path), "source", names_to_json_exact(source), "out",
                                 names_to_json_exact(out), "thumbnail_size", (int) j->profile->thumb_size,
                                 "outputs", profile_outputs_to_json(j->profile));
        free(source);
        if (item && password)
                json_object_set_new(item, "password", json_string(password));
        if (item && j->taken.known)
                json_object_set_new(item, "taken", json_pack("{s:I,s:I,s:I}", "dev", (json_int_t) j->taken.dev, "ino",
                                                             (json_int_t) j->taken.ino, "size",
                                                             (json_int_t) j->taken.size));
        return item;
}

static char *shell_quote(const char *s) {
        size_t n = 2;
        for (const char *p = s; *p; p++)
                n += *p == '\'' ? 4 : 1;
        char *q = xmalloc(n + 1), *o = q;
        *o++ = '\'';
        for (const char *p = s; *p; p++)
                if (*p == '\'') {
                        memcpy(o, "'\\''", 4);
                        o += 4;
                } else
                        *o++ = *p;
        *o++ = '\'';
        *o = 0;
        return q;
}

/* sbatch for chunk C of QUEUE's batch BATCH. 0 with c->slurm_id set, or -errno. */
static int submit(struct slurm *x, struct chunk *c, const char *queue, const char *batch) {
        const struct slurm_config *sc = cfg(x);
        size_t n = 0, extra = 0;
        while (sc->sbatch_options && sc->sbatch_options[extra])
                extra++;
        char **argv = xcalloc(32 + extra, sizeof(char *));
        char *chunk_file = xasprintf("%s/chunk.json", c->dir);
        char *qw = shell_quote(x->worker_path), *qc = shell_quote(chunk_file);

        argv[n++] = xstrdup("sbatch");
        argv[n++] = xstrdup("--parsable");
        argv[n++] = xasprintf("--job-name=pdfspool:%s:%s", queue, batch);
        argv[n++] = xasprintf("--chdir=%s", c->dir);
        argv[n++] = xasprintf("--output=%s/slurm.out", c->dir);
        argv[n++] = xstrdup("--no-requeue");        /* the daemon retries, counting attempts */
        argv[n++] = xstrdup("--export=NONE");       /* nothing of the daemon's environment */
        argv[n++] = xstrdup("--ntasks=1");
        argv[n++] = xasprintf("--cpus-per-task=%u", sc->cpus_per_task);
        if (sc->partition)
                argv[n++] = xasprintf("--partition=%s", sc->partition);
        if (sc->account)
                argv[n++] = xasprintf("--account=%s", sc->account);
        if (sc->qos)
                argv[n++] = xasprintf("--qos=%s", sc->qos);
        if (sc->time_limit_usec)
                argv[n++] = xasprintf("--time=%" PRIu64, (sc->time_limit_usec + 60 * USEC_PER_SEC - 1) /
                                                             (60 * USEC_PER_SEC));
        if (sc->mem)
                argv[n++] = xasprintf("--mem=%" PRIu64 "M", (sc->mem + (1 << 20) - 1) >> 20);
        if (sc->mem_per_cpu)
                argv[n++] = xasprintf("--mem-per-cpu=%" PRIu64 "M", (sc->mem_per_cpu + (1 << 20) - 1) >> 20);
        for (size_t i = 0; sc->sbatch_options && sc->sbatch_options[i]; i++)
                argv[n++] = xstrdup(sc->sbatch_options[i]);
        argv[n++] = xasprintf("--wrap=exec %s --batch %s", qw, qc);
        free(qw);
        free(qc);
        free(chunk_file);

        char *out = NULL;
        int r = run_command(argv, &out);
        strv_free(argv);
        if (r == 0) {
                /* --parsable: "<id>" or "<id>;<cluster>", on the last line (warnings come first). */
                char *last = strrchr(out, '\n');
                last = last ? last + 1 : out;
                last[strcspn(last, ";")] = 0;
                if (*last && strspn(last, "0123456789_") == strlen(last)) {
                        c->slurm_id = xstrdup(last);
                        free(out);
                        return 0;
                }
                r = -EBADMSG;
        }
        log_error("sbatch for %s failed: %s%s%s", c->dir, r < 0 ? strerror(-r) : "",
                  r < 0 && out && *out ? ": " : "", out ? out : "");
        free(out);
        return r < 0 ? r : -EIO;
}

static struct chunk *chunk_new(struct slurm *x) {
        struct chunk *c = xcalloc(1, sizeof(*c));

        c->x = x;
        c->name = xasprintf("%" PRIu64 ".%d.%u", now_usec(CLOCK_REALTIME), (int) getpid(), ++x->serial);
        c->dir = xasprintf("%s/%s", x->dir, c->name);
        c->jobs = xcalloc(cfg(x)->pdfs_per_task, sizeof(struct job *));
        c->cancel = xcalloc(cfg(x)->pdfs_per_task, sizeof(bool));
        return c;
}

static size_t in_flight(const struct slurm *x) {
        size_t n = 0;
        for (const struct chunk *c = x->chunks; c; c = c->next)
                n++;
        return n;
}

/* One chunk: the next queued job and more of its batch, up to pdfs_per_task.
 * false when nothing (more) can be submitted now. */
static bool submit_one(struct slurm *x) {
        struct job *first = sched_next_for(x->spool, EXECUTOR_SLURM);
        if (!first)
                return false;
        struct batch *b = first->batch;
        struct chunk *c = chunk_new(x);
        json_t *items = json_array();
        int r = mkdir(c->dir, 0700) < 0 ? -errno : 0;

        if (r < 0) {
                spool_job_defer(first, "cannot create the Slurm chunk's folder in the state directory", r);
                json_decref(items);
                chunk_free(c);
                return true;
        }
        /* Chunks of pdfs_per_task, but smaller when fewer jobs wait than would
         * fill max_jobs of them: the batch's last jobs spread over every slot
         * instead of waiting behind one long chunk. */
        size_t queued = b->counts[JOB_QUEUED], slots = cfg(x)->max_jobs;
        size_t size = (queued + slots - 1) / slots;
        size = size < 1 ? 1 : size > cfg(x)->pdfs_per_task ? cfg(x)->pdfs_per_task : size;
        for (size_t i = first->index; i < b->n_jobs && c->n_jobs < size; i++) {
                struct job *j = &b->jobs[i];
                if (j->state != JOB_QUEUED)
                        continue;
                char *pdf = NULL, *out = NULL;
                r = spool_job_start(j, &pdf, &out);
                if (r < 0) {
                        spool_job_defer(j, "cannot prepare the job's temp folder in the outbox", r);
                        break;
                }
                spool_job_announce(j);
                struct profile *pr = NULL;
                char *why = NULL;
                if (job_resolve_profile(x->spool->config, j, &pr, &why) < 0) {
                        (void) spool_job_finish(j, JOB_FAILED, 0, why); /* as the pool does */
                        free(why);
                        free(pdf);
                        free(out);
                        continue;
                }
                job_set_profile(j, pr);
                json_array_append_new(items, chunk_item(j, out));
                c->jobs[c->n_jobs++] = j;
                free(pdf);
                free(out);
        }
        if (c->n_jobs == 0) {
                json_decref(items);
                (void) rmdir(c->dir);
                chunk_free(c);
                return false;
        }
        const struct config *conf = x->spool->config;
        json_t *rec = json_pack("{s:i,s:s,s:s,s:I,s:i,s:o}", "v", SLURM_CHUNK_VERSION, "queue", b->queue->name, "batch",
                                b->id, "memory", (json_int_t) conf->worker_memory, "thumbnail_size",
                                (int) conf->thumbnail_size, "jobs", items);
        r = spool_write_record(c->dir, "chunk.json", rec, true);
        if (r == 0)
                r = submit(x, c, b->queue->name, b->id);
        if (r == 0) {
                c->next = x->chunks;
                x->chunks = c;
                (void) write_submitted(c); /* lost: the next start finds the job by its folder */
                show_runner(c, "SUBMITTED");
                log_full(LOG_INFO, &(struct log_ctx) { .queue = b->queue->name, .batch = b->id }, 0, NULL,
                         "Slurm job %s: %zu job%s (%s)", c->slurm_id, c->n_jobs, c->n_jobs == 1 ? "" : "s", c->name);
                return true;
        }
        /* Not submitted: the jobs wait, the queue starts nothing for a while. */
        for (size_t i = 0; i < c->n_jobs; i++)
                spool_job_defer(c->jobs[i], "cannot submit the job to Slurm", r);
        int fd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                (void) fs_remove_tree(fd, c->name);
                close(fd);
        }
        chunk_free(c);
        return true;
}

static void dispatch(struct slurm *x) {
        if (x->stopping || x->blocked || x->spool->stopping)
                return;
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        /* The rest at the next poll when sbatch is slow today. */
        while (in_flight(x) < cfg(x)->max_jobs && now_usec(CLOCK_MONOTONIC) - start < DISPATCH_BUDGET_USEC &&
               submit_one(x))
                ;
}

void slurm_kick(struct slurm *x) {
        if (x)
                dispatch(x);
}

/* ---- reconciliation at start ---- */

/* Chunk NAME a previous run left: its jobs (queued again by the store's
 * recovery) processing again under it. -errno when it cannot be read. */
static int adopt_chunk(struct slurm *x, const char *name) {
        struct chunk *c = xcalloc(1, sizeof(*c));
        char *text = NULL, *path;
        c->x = x;
        c->name = xstrdup(name);
        c->dir = xasprintf("%s/%s", x->dir, name);

        path = xasprintf("%s/chunk.json", c->dir);
        int r = fs_read_file(AT_FDCWD, path, 64 << 20, &text, NULL);
        free(path);
        json_t *rec = r < 0 ? NULL : json_loads(text, 0, NULL);
        free(text);
        if (r == -ENOENT) {
                /* A crash before the chunk was written: nothing was submitted. */
                int fd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) fs_remove_tree(fd, name);
                        close(fd);
                }
                chunk_free(c);
                return 0;
        }
        if (!rec) {
                chunk_free(c);
                return r < 0 ? r : -EBADMSG;
        }
        path = xasprintf("%s/submitted.json", c->dir);
        text = NULL;
        if (fs_read_file(AT_FDCWD, path, 4096, &text, NULL) == 0) {
                json_t *sub = json_loads(text, 0, NULL);
                const char *id = json_string_value(json_object_get(sub, "slurm_job"));
                c->slurm_id = id ? xstrdup(id) : NULL;
                json_decref(sub);
        }
        free(text);
        free(path);

        json_t *items = json_object_get(rec, "jobs");
        struct batch *b = spool_batch_find(x->spool, json_string_value(json_object_get(rec, "queue")),
                                           json_string_value(json_object_get(rec, "batch")));
        c->jobs = xcalloc(json_array_size(items) + 1, sizeof(struct job *));
        c->cancel = xcalloc(json_array_size(items) + 1, sizeof(bool));
        c->n_jobs = json_array_size(items);
        size_t adopted = 0;
        for (size_t i = 0; b && i < c->n_jobs; i++) {
                json_int_t index = json_integer_value(json_object_get(json_array_get(items, i), "index"));
                if (index < 0 || (size_t) index >= b->n_jobs)
                        continue;
                struct job *j = &b->jobs[index];
                /* Queued: it was processing when the daemon stopped. Anything else
                 * ended already (its end recorded before the chunk went). */
                if (j->state == JOB_QUEUED && spool_job_adopt(j) >= 0) {
                        struct profile *pr = NULL;
                        char *why = NULL;
                        /* What it runs with, for its filters and its outputs' check;
                         * a profile gone meanwhile: none (it ends as the node made it). */
                        if (job_resolve_profile(x->spool->config, j, &pr, &why) == 0)
                                job_set_profile(j, pr);
                        free(why);
                        c->jobs[i] = j;
                        adopted++;
                }
        }
        json_decref(rec);
        log_notice("Slurm chunk %s (Slurm job %s) from before the restart: %zu job%s adopted", name,
                   c->slurm_id ? c->slurm_id : "unknown", adopted, adopted == 1 ? "" : "s");
        c->next = x->chunks;
        x->chunks = c;
        return 0;
}

static int reconcile(struct slurm *x) {
        DIR *d = opendir(x->dir);
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                bool known = de->d_name[0] == '.';
                for (const struct chunk *c = x->chunks; c && !known; c = c->next)
                        known = strcmp(c->name, de->d_name) == 0;
                if (known)
                        continue;
                int k = adopt_chunk(x, de->d_name);
                if (k < 0) {
                        log_error("cannot read Slurm chunk %s/%s: %s; nothing is submitted to Slurm until it can be "
                                  "(looked at again with every poll)",
                                  x->dir, de->d_name, strerror(-k));
                        r = k;
                }
                errno = 0;
        }
        if (errno && r == 0)
                r = -errno;
        closedir(d);
        return r;
}

int slurm_new(struct spool *s, const char *worker_path, struct slurm **ret) {
        struct slurm *x = xcalloc(1, sizeof(*x));

        x->spool = s;
        x->worker_path = xstrdup(worker_path);
        x->dir = xasprintf("%s/%s", s->config->state_dir, SLURM_DIR);
        if (mkdir(x->dir, 0700) < 0 && errno != EEXIST) {
                int r = -errno;
                log_error("cannot create %s: %s", x->dir, strerror(-r));
                slurm_free(x);
                return r;
        }
        /* Before anything is submitted: a job of a chunk that cannot be read
         * could still run in Slurm, so nothing runs until it can be. */
        x->blocked = reconcile(x) < 0;
        int r = sd_event_add_time_relative(s->event, &x->poll_timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_poll, x);
        if (r < 0) {
                slurm_free(x);
                return r;
        }
        (void) sd_event_source_set_enabled(x->poll_timer, SD_EVENT_ON);
        *ret = x;
        return 0;
}

int slurm_cancel_job(struct slurm *x, struct job *j) {
        for (struct chunk *c = x ? x->chunks : NULL; c; c = c->next)
                for (size_t i = 0; i < c->n_jobs; i++)
                        if (c->jobs[i] == j) {
                                struct log_ctx ctx = job_ctx(j);
                                log_full(LOG_NOTICE, &ctx, 0, NULL, "canceled by request: scancel %s",
                                         c->slurm_id ? c->slurm_id : "(its id comes with the next look)");
                                c->cancel[i] = true;
                                scancel(c); /* the rest of the chunk runs again */
                                return 1;
                        }
        return -ENOENT;
}

const char *slurm_job_id(const struct slurm *x, const struct job *j) {
        for (const struct chunk *c = x ? x->chunks : NULL; c; c = c->next)
                for (size_t i = 0; i < c->n_jobs; i++)
                        if (c->jobs[i] == j)
                                return c->slurm_id;
        return NULL;
}

void slurm_stop(struct slurm *x) {
        if (x)
                x->stopping = true;
}

void slurm_free(struct slurm *x) {
        if (!x)
                return;
        sd_event_source_disable_unref(x->poll_timer);
        while (x->chunks) {
                struct chunk *c = x->chunks;
                x->chunks = c->next;
                chunk_free(c);
        }
        free(x->worker_path);
        free(x->dir);
        free(x);
}
