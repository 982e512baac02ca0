/* pool.c: worker processes, one job at a time each.
 *
 * A worker that crashes, hangs past the job timeout, or is killed for memory
 * fails only its own job, with the reason in words; it is replaced. A worker
 * that dies before it even says hello is replaced after a growing delay, so a
 * broken installation cannot make a fork storm. A job that reaches one of its
 * queue's limits (config.h: struct job_limits) fails with a reason that names
 * the limit; so does one whose worker made a forbidden system call. */
#include "pool.h"
#include "log.h"
#include "names.h"
#include "proto.h"
#include "scheduler.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct worker {
        struct pool *pool;
        pid_t pid;
        int fd;
        sd_event_source *io, *child, *timeout;
        struct job *job;
        uint64_t job_serial;
        uint64_t timeout_usec;  /* of the job it runs */
        char *kill_reason;      /* why we killed it (or it told us, "fatal"), for the job's status */
        struct job_limits limits; /* of the job it runs */
        unsigned jobs_done;
        bool hello;
        bool retiring;          /* asked to quit after max jobs, or removed by a resize */
        bool canceling;         /* killed for a cancel request: its job ends canceled when it is gone */
        bool announce;          /* handed a job whose start is not yet recorded (dispatch) */
};

struct pool {
        struct spool *spool;
        char *worker_path;
        struct worker *workers;
        size_t n_workers;       /* slots; pid 0 = empty */
        unsigned wanted;
        unsigned quick_deaths;
        uint64_t serial;
        sd_event_source *respawn_timer;
        bool stopping;
        sd_event_source *grace_timer;
        sd_event_source *wake_timer;    /* a batch that waits for its time (not_before, hours) */
        char *emfile_job;       /* queue/batch/job of the last job deferred for EMFILE (limit_hit) */
        void (*stop_done)(struct pool *p, void *userdata);
        void *stop_userdata;
        pool_extracted_fn on_extracted;
        void *extracted_userdata;
};

static void dispatch(struct pool *p);
static void spawn_missing(struct pool *p);

char *pool_find_worker(void) {
        const char *env = getenv("PDFSPOOL_WORKER");
        char self[PATH_MAX];
        ssize_t n;

        if (env && *env)
                return xstrdup(env);
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = 0;
                char *slash = strrchr(self, '/');
                if (slash) {
                        char *p = xasprintf("%.*s/pdfspool-worker", (int) (slash - self), self);
                        if (access(p, X_OK) == 0)
                                return p;
                        free(p);
                }
        }
        return xstrdup(LIBEXECDIR "/pdfspool-worker");
}

unsigned pool_busy(const struct pool *p) {
        unsigned n = 0;
        for (size_t i = 0; i < p->n_workers; i++)
                n += p->workers[i].job != NULL;
        return n;
}

static struct log_ctx job_ctx(const struct job *j) {
        return (struct log_ctx) { .queue = j->batch->queue->name, .batch = j->batch->id, .job = j->name };
}

static void worker_clear(struct worker *w) {
        w->io = sd_event_source_disable_unref(w->io);
        w->child = sd_event_source_disable_unref(w->child);
        w->timeout = sd_event_source_disable_unref(w->timeout);
        if (w->fd >= 0)
                close(w->fd);
        free(w->kill_reason);
        *w = (struct worker) { .pool = w->pool, .fd = -1 };
}

static void worker_kill(struct worker *w, const char *reason) {
        if (!w->kill_reason && reason)
                w->kill_reason = xstrdup(reason);
        if (w->pid > 0)
                (void) kill(w->pid, SIGKILL);
}

static void check_stop_done(struct pool *p) {
        if (p->stopping && pool_busy(p) == 0 && p->stop_done) {
                void (*done)(struct pool *, void *) = p->stop_done;
                p->stop_done = NULL;
                done(p, p->stop_userdata);
        }
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct worker *w = userdata;
        uint64_t secs = w->timeout_usec / USEC_PER_SEC;
        char *reason = xasprintf("timed out: still running after %" PRIu64 " s (job_timeout); the worker was stopped",
                                 secs);
        worker_kill(w, reason);
        free(reason);
        return 0;
}

void pool_set_extracted_handler(struct pool *p, pool_extracted_fn fn, void *userdata) {
        p->on_extracted = fn;
        p->extracted_userdata = userdata;
}

/* The worker's job, taken off it (with its timeout): the worker is free. */
static struct job *worker_take_job(struct worker *w) {
        struct job *j = w->job;

        w->job = NULL;
        w->timeout = sd_event_source_disable_unref(w->timeout);
        return j;
}

static void job_done(struct worker *w, enum job_state state, unsigned pages, const char *error) {
        struct job *j = worker_take_job(w);

        if (j)
                (void) spool_job_finish(j, state, pages, error);
}

/* RLIMIT_CPU counts whole seconds. */
static uint64_t cpu_seconds(const struct job_limits *l) {
        return (l->cpu_usec + USEC_PER_SEC - 1) / USEC_PER_SEC;
}

static char *job_key(const struct job *j) {
        return xasprintf("%s/%s/%s", j->batch->queue->name, j->batch->id, j->name);
}

/* The reason for job J, whose outputs could not be written with ERR, when that
 * was one of its limits; NULL otherwise (the caller decides between deferring
 * and failing as for any write error). */
static char *limit_hit(struct pool *p, const struct worker *w, const struct job *j, int err) {
        if (err == EFBIG && w->limits.file_size > 0)
                return xasprintf("output larger than the file size limit of %" PRIu64 " bytes", w->limits.file_size);
        if (err != EMFILE || w->limits.open_files == 0)
                return NULL;
        /* A worker gets EMFILE only from its own RLIMIT_NOFILE, the job's limit.
         * Yet descriptors are counted among the spool's resources (a fault
         * injected there must defer, not fail), so the first EMFILE of a job
         * defers it like any other; the same job getting it again on its
         * retry has reached its limit, and that is the PDF's doing. */
        char *key = job_key(j);
        if (p->emfile_job && strcmp(p->emfile_job, key) == 0) {
                free(key);
                free(p->emfile_job);
                p->emfile_job = NULL;
                return xasprintf("too many open files: the limit of %u open files was reached", w->limits.open_files);
        }
        free(p->emfile_job);
        p->emfile_job = key;
        return NULL;
}

/* A worker's "fatal" message: why it is about to exit, for its job. */
static void take_last_words(struct worker *w, json_t *msg) {
        const char *reason = json_string_value(json_object_get(msg, "reason"));

        if (reason && !w->kill_reason)
                w->kill_reason = xstrdup(reason);
}

/* A worker that exits right after its "fatal" message may be reaped before that
 * message was read: read what it left in the socket (it is gone, so this never
 * blocks: the queue ends in end-of-file). */
static void read_last_words(struct worker *w) {
        json_t *msg;

        if (!w->io || w->fd < 0)
                return;
        for (int i = 0; i < 4; i++) {
                struct pollfd p = { .fd = w->fd, .events = POLLIN };
                if (poll(&p, 1, 0) <= 0 || proto_recv(w->fd, &msg) < 0)
                        return;
                const char *type = json_string_value(json_object_get(msg, "type"));
                if (type && strcmp(type, "fatal") == 0)
                        take_last_words(w, msg);
                json_decref(msg);
        }
}

static int on_worker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct worker *w = userdata;
        struct pool *p = w->pool;
        json_t *msg;
        int r = proto_recv(fd, &msg);

        if (r < 0) {
                /* Closed or garbled: the exit handler tells the job what happened. */
                w->io = sd_event_source_disable_unref(w->io);
                /* ECONNRESET: the worker died with our message unread (SIGKILL);
                 * the exit handler gives the real reason. */
                if (r != -EPIPE && r != -ECONNRESET)
                        worker_kill(w, "the worker sent a message that could not be read");
                return 0;
        }
        const char *type = json_string_value(json_object_get(msg, "type"));
        if (type && strcmp(type, "fatal") == 0) {
                /* Its last words (sandbox.c); it exits right after. */
                take_last_words(w, msg);
        } else if (type && strcmp(type, "hello") == 0) {
                w->hello = true;
                p->quick_deaths = 0;
        } else if (type && strcmp(type, "result") == 0 && w->canceling) {
                ; /* too late: the job ends canceled when the worker is gone */
        } else if (type && strcmp(type, "result") == 0 && w->job) {
                char id[32];
                snprintf(id, sizeof(id), "%" PRIu64, w->job_serial);
                const char *rid = json_string_value(json_object_get(msg, "id"));
                if (!rid || strcmp(rid, id) != 0)
                        worker_kill(w, "the worker answered for another job");
                else {
                        bool ok = json_is_true(json_object_get(msg, "ok"));
                        const char *error = json_string_value(json_object_get(msg, "error"));
                        const char *resource = json_string_value(json_object_get(msg, "resource_error"));
                        int err = (int) json_integer_value(json_object_get(msg, "errno"));
                        unsigned pages = (unsigned) json_integer_value(json_object_get(msg, "pages"));
                        /* Before the worker's next job replaces its limits. */
                        char *limit_reason = !ok && resource ? limit_hit(p, w, w->job, err) : NULL;
                        /* The worker is free: it gets its next job before this one is
                         * published (outputs moved, synced, statuses written), so that
                         * it works while the daemon waits on the disk. */
                        struct job *j = worker_take_job(w);
                        if (++w->jobs_done >= p->spool->config->worker_max_jobs) {
                                /* Recycled now and then so that no leak can grow. */
                                w->retiring = true;
                                json_t *quit = json_pack("{s:i,s:s}", "v", PROTO_VERSION, "type", "quit");
                                (void) proto_send(w->fd, quit);
                                json_decref(quit);
                        }
                        dispatch(p);
                        if (limit_reason) {
                                /* The job's own limit: the PDF's fault, unlike a full disk. */
                                (void) spool_job_finish(j, JOB_FAILED, 0, limit_reason);
                                free(limit_reason);
                        } else if (!ok && resource && (errno_is_transient(err) || err == ENOENT)) {
                                /* The worker could not write its outputs (disk full, I/O
                                 * error, its folder removed from the outbox while it ran):
                                 * not the PDF's fault, so the job waits and runs again. */
                                spool_job_defer(j, "the worker could not write the job's outputs", err);
                        } else if (ok && p->on_extracted) {
                                /* Its filters come next, in the daemon. */
                                job_set_text_layer(j, msg);
                                p->on_extracted(j, pages, p->extracted_userdata);
                        } else {
                                if (ok)
                                        job_set_text_layer(j, msg);
                                (void) spool_job_finish(j, ok ? JOB_DONE : JOB_FAILED, pages,
                                                        ok ? NULL : (error ? error : "failed"));
                        }
                }
        } else
                worker_kill(w, "the worker sent an unexpected message");
        json_decref(msg);
        dispatch(p);
        check_stop_done(p);
        return 0;
}

static char *death_reason(const struct worker *w, const siginfo_t *si) {
        if (si->si_code == CLD_EXITED && si->si_status == PROTO_EXIT_FORBIDDEN_CALL)
                /* Its report of which call did not arrive. */
                return xstrdup("worker made a forbidden system call");
        if (si->si_code == CLD_EXITED)
                return xasprintf("the worker exited unexpectedly with status %d", si->si_status);
        if (si->si_status == SIGXCPU && w->limits.cpu_usec > 0)
                return xasprintf("CPU time limit of %" PRIu64 " s reached", cpu_seconds(&w->limits));
        const char *name = sigabbrev_np(si->si_status);
        if (si->si_status == SIGKILL)
                return xstrdup("worker killed by SIGKILL (probably out of memory)");
        return xasprintf("worker killed by SIG%s (%s)%s", name ? name : "?", strsignal(si->si_status),
                         si->si_code == CLD_DUMPED ? ", core dumped" : "");
}

static int on_respawn(sd_event_source *s, uint64_t usec, void *userdata) {
        spawn_missing(userdata);
        dispatch(userdata);
        return 0;
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct worker *w = userdata;
        struct pool *p = w->pool;
        bool said_hello = w->hello;

        if (!w->retiring && !p->stopping)
                p->spool->worker_restarts++;

        if (w->job && w->canceling)
                job_done(w, JOB_CANCELED, 0, "canceled by request while it ran");
        else if (w->job) {
                read_last_words(w);
                char *reason = w->kill_reason ? xstrdup(w->kill_reason) : death_reason(w, si);
                struct log_ctx ctx = job_ctx(w->job);
                log_full(LOG_WARNING, &ctx, 0, NULL, "worker %d ended: %s", (int) si->si_pid, reason);
                job_done(w, JOB_FAILED, 0, reason);
                free(reason);
        } else if (!w->retiring && !p->stopping) {
                char *reason = death_reason(w, si);
                log_warning("worker %d ended while idle: %s", (int) si->si_pid, reason);
                free(reason);
        }
        worker_clear(w);
        if (!said_hello && !p->stopping) {
                /* It never started: do not respawn in a tight loop. */
                p->quick_deaths++;
                uint64_t delay = (p->quick_deaths < 30 ? p->quick_deaths : 30) * USEC_PER_SEC;
                log_error("worker %s did not start (%u in a row); trying again in %" PRIu64 " s", p->worker_path,
                          p->quick_deaths, delay / USEC_PER_SEC);
                if (!p->respawn_timer)
                        (void) sd_event_add_time_relative(p->spool->event, &p->respawn_timer, CLOCK_MONOTONIC, delay,
                                                          USEC_PER_SEC / 10, on_respawn, p);
                else {
                        (void) sd_event_source_set_time_relative(p->respawn_timer, delay);
                        (void) sd_event_source_set_enabled(p->respawn_timer, SD_EVENT_ONESHOT);
                }
        } else
                spawn_missing(p);
        dispatch(p);
        check_stop_done(p);
        return 0;
}

static int worker_spawn(struct pool *p, struct worker *w) {
        int sv[2];
        pid_t pid;
        int r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGIO, SIG_DFL);
                /* The daemon may hold CAP_LEASE for the writer check; workers hold nothing. */
                (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
                /* dup2 onto itself would keep close-on-exec: clear it instead. */
                if (sv[1] == PROTO_WORKER_FD ? fcntl(sv[1], F_SETFD, 0) < 0 : dup2(sv[1], PROTO_WORKER_FD) < 0)
                        _exit(127);
                char mem[32];
                snprintf(mem, sizeof(mem), "%" PRIu64, p->spool->config->worker_memory);
                setenv("PDFSPOOL_WORKER_MEMORY", mem, 1);
                execl(p->worker_path, "pdfspool-worker", (char *) NULL);
                fprintf(stderr, "pdfspool-worker: cannot execute %s: %s\n", p->worker_path, strerror(errno));
                _exit(127);
        }
        close(sv[1]);
        *w = (struct worker) { .pool = p, .pid = pid, .fd = sv[0] };
        r = sd_event_add_io(p->spool->event, &w->io, w->fd, EPOLLIN, on_worker_io, w);
        if (r >= 0)
                r = sd_event_add_child(p->spool->event, &w->child, pid, WEXITED, on_worker_exit, w);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                worker_clear(w);
                return r;
        }
        return 0;
}

static void spawn_missing(struct pool *p) {
        unsigned alive = 0;

        if (p->stopping)
                return;
        for (size_t i = 0; i < p->n_workers; i++)
                alive += p->workers[i].pid > 0 && !p->workers[i].retiring;
        for (size_t i = 0; i < p->n_workers && alive < p->wanted; i++) {
                if (p->workers[i].pid > 0)
                        continue;
                int r = worker_spawn(p, &p->workers[i]);
                if (r < 0) {
                        /* No process or descriptor to be had now: try again soon, never give up. */
                        log_error("cannot start a worker: %s; trying again in 1 s", strerror(-r));
                        if (!p->respawn_timer)
                                (void) sd_event_add_time_relative(p->spool->event, &p->respawn_timer,
                                                                  CLOCK_MONOTONIC, USEC_PER_SEC, USEC_PER_SEC / 10,
                                                                  on_respawn, p);
                        else {
                                (void) sd_event_source_set_time_relative(p->respawn_timer, USEC_PER_SEC);
                                (void) sd_event_source_set_enabled(p->respawn_timer, SD_EVENT_ONESHOT);
                        }
                        break;
                }
                alive++;
        }
}

static int on_wake(sd_event_source *s, uint64_t usec, void *userdata) {
        dispatch(userdata);
        return 0;
}

/* Nothing to start now, but a batch waits for its time: look again then. */
static void arm_wake(struct pool *p) {
        uint64_t at = sched_wakeup(p->spool);

        if (!at) {
                (void) sd_event_source_set_enabled(p->wake_timer, SD_EVENT_OFF);
                return;
        }
        int r = p->wake_timer ? sd_event_source_set_time(p->wake_timer, at)
                              : sd_event_add_time(p->spool->event, &p->wake_timer, CLOCK_REALTIME, at, USEC_PER_SEC,
                                                  on_wake, p);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->wake_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                /* Every finished job and every new batch still look again. */
                log_error("cannot arm the timer for batches that wait for their time: %s", strerror(-r));
}

static json_t *job_limits_json(const struct job_limits *l) {
        return json_pack("{s:I, s:I, s:I}", "cpu_seconds", (json_int_t) cpu_seconds(l), "file_size",
                         (json_int_t) l->file_size, "open_files", (json_int_t) l->open_files);
}

static void dispatch(struct pool *p) {
        if (p->stopping || p->spool->stopping)
                return;
        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (w->pid <= 0 || !w->hello || w->job || w->retiring || !w->io)
                        continue;
                struct job *j = sched_next_for(p->spool, EXECUTOR_LOCAL); /* slurm.c runs the others */
                if (!j) {
                        arm_wake(p);
                        break;
                }
                /* The job's timeout first: a job never runs without one. Disabled
                 * until the job is handed over. */
                uint64_t timeout = j->batch->job_timeout_usec ? j->batch->job_timeout_usec
                                                              : p->spool->config->job_timeout_usec;
                int r = sd_event_add_time_relative(p->spool->event, &w->timeout, CLOCK_MONOTONIC, timeout,
                                                   USEC_PER_SEC / 10, on_timeout, w);
                if (r < 0) {
                        w->timeout = NULL;
                        spool_job_defer(j, "cannot arm the job's timeout, so it does not start", r);
                        continue;
                }
                (void) sd_event_source_set_enabled(w->timeout, SD_EVENT_OFF);
                char *pdf, *out;
                r = spool_job_start(j, &pdf, &out);
                if (r < 0) {
                        w->timeout = sd_event_source_disable_unref(w->timeout);
                        /* Not the PDF's fault: the job waits, its queue starts nothing for a while. */
                        spool_job_defer(j, "cannot prepare the job's temp folder in the outbox", r);
                        i--;
                        continue;
                }
                /* The daemon opens the input itself, beneath the claim and checked against
                 * what was taken; the worker only ever gets this descriptor. */
                const char *why;
                int pdf_fd = spool_job_open_source(j, &why);
                if (pdf_fd < 0) {
                        w->timeout = sd_event_source_disable_unref(w->timeout);
                        free(pdf);
                        free(out);
                        if (errno_is_transient(pdf_fd)) {
                                /* No descriptor to be had, an I/O error: not the PDF's fault. */
                                spool_job_defer(j, "cannot open the claimed file", pdf_fd);
                        } else {
                                char *reason = why ? xstrdup(why)
                                                   : xasprintf("cannot open file: %s", strerror(-pdf_fd));
                                (void) spool_job_finish(j, JOB_FAILED, 0, reason);
                                free(reason);
                        }
                        i--;
                        continue;
                }
                struct profile *pr = NULL;
                char *profile_why = NULL;
                if (job_resolve_profile(p->spool->config, j, &pr, &profile_why) < 0) {
                        w->timeout = sd_event_source_disable_unref(w->timeout);
                        free(pdf);
                        free(out);
                        close(pdf_fd);
                        (void) spool_job_finish(j, JOB_FAILED, 0, profile_why);
                        free(profile_why);
                        i--;
                        continue;
                }
                job_set_profile(j, pr);
                w->job = j;
                w->job_serial = ++p->serial;
                char id[32];
                snprintf(id, sizeof(id), "%" PRIu64, w->job_serial);
                /* "staged": the outputs stay in the job's temp folder until move_outputs. */
                json_t *msg = json_pack("{s:i,s:s,s:s,s:o,s:o,s:i,s:b}", "v", PROTO_VERSION, "type", "job", "id", id,
                                        "pdf", names_to_json_exact(pdf), "out", names_to_json_exact(out),
                                        "thumbnail_size", (int) pr->thumb_size, "staged", 1);
                /* The password travels in the message only: never argv, never a file. */
                const char *password = job_password(j);
                w->limits = j->batch->queue->cfg->limits;
                if (msg && (json_object_set_new(msg, "outputs", profile_outputs_to_json(pr)) < 0 ||
                            json_object_set_new(msg, "limits", job_limits_json(&w->limits)) < 0 ||
                            (password && json_object_set_new(msg, "password", json_string(password)) < 0))) {
                        json_decref(msg);
                        msg = NULL;
                }
                free(pdf);
                free(out);
                r = msg ? proto_send_fd(w->fd, msg, pdf_fd) : -EINVAL;
                json_decref(msg);
                close(pdf_fd);
                if (r < 0 && r != -EINVAL) {
                        /* The worker is gone (killed, crashed) before it got the job: not
                         * the PDF's fault; the job goes back to queued, the worker is replaced. */
                        struct log_ctx ctx = job_ctx(j);
                        log_full(LOG_NOTICE, &ctx, -r, NULL, "the worker could not be reached (%s); the job runs again",
                                 strerror(-r));
                        (void) spool_job_requeue(worker_take_job(w));
                        w->io = sd_event_source_disable_unref(w->io); /* handed nothing more */
                        worker_kill(w, NULL);
                        continue;
                }
                if (r < 0) {
                        /* Names json cannot carry (not UTF-8) end up here: say so. */
                        worker_kill(w, "the file's path cannot be passed to the worker");
                        continue;
                }
                /* Counted from the hand-over. */
                w->timeout_usec = timeout;
                (void) sd_event_source_set_time_relative(w->timeout, timeout);
                (void) sd_event_source_set_enabled(w->timeout, SD_EVENT_ONESHOT);
                w->announce = true;
        }
        /* Every free worker has its job: now the records and status files, with
         * their fsyncs, while the workers run. */
        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (w->announce && w->job)
                        spool_job_announce(w->job);
                w->announce = false;
        }
}

/* Wait up to TIMEOUT_MSEC for PID to be gone (not reaped: the child source
 * does that). true when it is. */
static bool wait_gone(pid_t pid, int timeout_msec) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        bool gone;

        if (fd < 0)
                return false;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n;
        do
                n = poll(&p, 1, timeout_msec);
        while (n < 0 && errno == EINTR);
        gone = n > 0;
        close(fd);
        return gone;
}

int pool_cancel_job(struct pool *p, struct job *j) {
        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (w->job != j || w->pid <= 0)
                        continue;
                struct log_ctx ctx = job_ctx(j);
                log_full(LOG_NOTICE, &ctx, 0, NULL, "canceled by request: stopping worker %d", (int) w->pid);
                w->canceling = true;
                w->retiring = true; /* its end is expected: not said as a death; a new one takes its place */
                w->timeout = sd_event_source_disable_unref(w->timeout);
                (void) kill(w->pid, SIGKILL);
                /* Gone for sure before its temp folder is cleaned, so that nothing
                 * it still writes can land there: then the job ends now. */
                if (!wait_gone(w->pid, 1500))
                        return 1; /* it ends canceled when its exit is reaped */
                job_done(w, JOB_CANCELED, 0, "canceled by request while it ran");
                return 0;
        }
        return -ENOENT;
}

void pool_kick(struct pool *p) {
        if (p)
                dispatch(p);
}

int pool_new(struct spool *s, const char *worker_path, struct pool **ret) {
        struct pool *p = xcalloc(1, sizeof(*p));

        p->spool = s;
        p->worker_path = xstrdup(worker_path);
        p->wanted = s->config->workers;
        p->n_workers = p->wanted;
        p->workers = xcalloc(p->n_workers, sizeof(struct worker));
        for (size_t i = 0; i < p->n_workers; i++)
                p->workers[i] = (struct worker) { .pool = p, .fd = -1 };
        if (access(worker_path, X_OK) < 0) {
                int r = -errno;
                log_error("worker executable %s: %s", worker_path, strerror(errno));
                pool_free(p);
                return r;
        }
        spawn_missing(p);
        *ret = p;
        return 0;
}

void pool_resize(struct pool *p, unsigned n) {
        if (n > p->n_workers) {
                p->workers = xrealloc(p->workers, n * sizeof(struct worker));
                for (size_t i = p->n_workers; i < n; i++)
                        p->workers[i] = (struct worker) { .pool = p, .fd = -1 };
                /* Workers point at their slots: re-point every source. */
                for (size_t i = 0; i < p->n_workers; i++) {
                        struct worker *w = &p->workers[i];
                        if (w->io)
                                sd_event_source_set_userdata(w->io, w);
                        if (w->child)
                                sd_event_source_set_userdata(w->child, w);
                        if (w->timeout)
                                sd_event_source_set_userdata(w->timeout, w);
                }
                p->n_workers = n;
        }
        p->wanted = n;
        unsigned alive = 0;
        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (w->pid <= 0 || w->retiring)
                        continue;
                if (++alive > n) {
                        w->retiring = true;
                        if (!w->job)
                                (void) kill(w->pid, SIGTERM);
                }
        }
        spawn_missing(p);
        dispatch(p);
}

static int on_grace_over(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pool *p = userdata;

        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (!w->job)
                        continue;
                struct log_ctx ctx = job_ctx(w->job);
                log_full(LOG_NOTICE, &ctx, 0, NULL, "stopping: job put back to queued for the next start");
                (void) spool_job_requeue(worker_take_job(w));
                worker_kill(w, NULL);
        }
        check_stop_done(p);
        return 0;
}

void pool_stop(struct pool *p, uint64_t grace_usec, void (*done)(struct pool *p, void *userdata), void *userdata) {
        p->stopping = true;
        p->stop_done = done;
        p->stop_userdata = userdata;
        for (size_t i = 0; i < p->n_workers; i++)
                if (p->workers[i].pid > 0 && !p->workers[i].job)
                        (void) kill(p->workers[i].pid, SIGTERM);
        if (pool_busy(p) > 0)
                (void) sd_event_add_time_relative(p->spool->event, &p->grace_timer, CLOCK_MONOTONIC, grace_usec,
                                                  USEC_PER_SEC / 10, on_grace_over, p);
        check_stop_done(p);
}

void pool_free(struct pool *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                if (w->pid > 0) {
                        (void) kill(w->pid, SIGKILL);
                        (void) waitpid(w->pid, NULL, 0);
                }
                worker_clear(w);
        }
        sd_event_source_disable_unref(p->respawn_timer);
        sd_event_source_disable_unref(p->grace_timer);
        sd_event_source_disable_unref(p->wake_timer);
        free(p->workers);
        free(p->worker_path);
        free(p->emfile_job);
        free(p);
}
