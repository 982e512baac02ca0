/* hooks.c: children of the daemon: completion hooks and long work.
 *
 * Each child gets its own process group (so a timeout takes its children
 * too), stdin from /dev/null and stdout+stderr on a pipe whose lines go to
 * the log, tagged with the hook and the batch. A few run at once; more wait. */
#include "hooks.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOKS_MAX_RUNNING 4
#define HOOKS_MAX_WAITING 1000
#define HOOKS_MAX_LOGGED_LINES 200
#define HOOKS_LINE_MAX 1024

struct hook {
        struct hook_spec spec;         /* strings and vectors below are owned copies */
        char *what, *queue, *batch;
        char **argv, **env;
        char *cwd;
        sd_event *event;
        pid_t pid;
        sd_event_source *child, *timer, *output;
        int out_fd;
        bool timed_out;
        char line[HOOKS_LINE_MAX];
        size_t line_len;
        char last_line[HOOKS_LINE_MAX + 1]; /* the last whole line of output */
        uint64_t output_written;       /* to spec.output_fd */
        bool output_cut;
        unsigned lines_logged;
        struct hook *next;
};

static struct hook *hooks;     /* running, then waiting, in order */
static bool stopped;           /* hooks_stop_all ran: nothing new starts */

/* A stopping daemon waiting for what still runs (hooks_drain). */
static struct {
        sd_event_source *timer;
        void (*done)(void *userdata);
        void *userdata;
} drain;

static void drain_check(void) {
        if (!drain.done || hooks)
                return;
        void (*done)(void *) = drain.done;
        void *userdata = drain.userdata;
        drain.timer = sd_event_source_disable_unref(drain.timer);
        drain.done = NULL;
        done(userdata);
}

static struct log_ctx hook_ctx(const struct hook *h) {
        return (struct log_ctx) { .queue = h->queue, .batch = h->batch };
}

static void hook_free(struct hook *h) {
        sd_event_source_disable_unref(h->child);
        sd_event_source_disable_unref(h->timer);
        sd_event_source_disable_unref(h->output);
        if (h->out_fd >= 0)
                close(h->out_fd);
        sd_event_unref(h->event);
        free(h->what);
        free(h->queue);
        free(h->batch);
        strv_free(h->argv);
        strv_free(h->env);
        free(h->cwd);
        free(h);
}

static void log_line(struct hook *h) {
        struct log_ctx ctx = hook_ctx(h);

        if (h->line_len > 0) {
                memcpy(h->last_line, h->line, h->line_len);
                h->last_line[h->line_len] = 0;
        }
        if (h->spec.output_max > 0) {
                h->line_len = 0;
                return;
        }

        if (h->lines_logged < HOOKS_MAX_LOGGED_LINES)
                log_full(LOG_INFO, &ctx, 0, NULL, "%s: %.*s", h->what, (int) h->line_len, h->line);
        else if (h->lines_logged == HOOKS_MAX_LOGGED_LINES)
                log_full(LOG_INFO, &ctx, 0, NULL, "%s: more output, not logged", h->what);
        h->lines_logged++;
        h->line_len = 0;
}

/* The child's output to spec.output_fd, up to spec.output_max bytes. A failed
 * write loses only the log's copy: the child's exit still decides. */
static void copy_output(struct hook *h, const char *buf, size_t n) {
        size_t room = h->output_written < h->spec.output_max ? (size_t) (h->spec.output_max - h->output_written) : 0;
        size_t take = n < room ? n : room;

        if (take > 0 && write(h->spec.output_fd, buf, take) == (ssize_t) take)
                h->output_written += take;
        if (take < n && !h->output_cut) {
                static const char note[] = "\n[more output, not kept]\n";
                h->output_cut = true;
                (void) !write(h->spec.output_fd, note, sizeof(note) - 1);
        }
}

/* Read what the child wrote so far; returns false at end of output. */
static bool drain_output(struct hook *h) {
        char buf[4096];

        for (;;) {
                ssize_t n = read(h->out_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN;
                if (n == 0)
                        break;
                if (h->spec.output_max > 0)
                        copy_output(h, buf, (size_t) n);
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == '\n' || h->line_len == sizeof(h->line))
                                log_line(h);
                        if (buf[i] != '\n')
                                h->line[h->line_len++] = buf[i];
                }
        }
        if (h->line_len > 0)
                log_line(h);
        return false;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hook *h = userdata;

        if (!drain_output(h))
                h->output = sd_event_source_disable_unref(h->output);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct hook *h = userdata;
        struct log_ctx ctx = hook_ctx(h);

        log_full(LOG_WARNING, &ctx, 0, NULL, "%s: still running after %" PRIu64 " s: killed", h->what,
                 h->spec.timeout_usec / USEC_PER_SEC);
        h->timed_out = true;
        (void) kill(-h->pid, SIGKILL);
        return 0;
}

static void start_waiting(void);

static int on_exit_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct hook *h = userdata;
        struct log_ctx ctx = hook_ctx(h);
        int status = si->si_code == CLD_EXITED ? si->si_status : -si->si_status;

        /* Whatever is left in the pipe; a grandchild that keeps it open is not waited for. */
        if (h->output)
                (void) drain_output(h);
        if (status != 0 && !h->timed_out && !h->spec.done_line) /* a filter's end is its job's reason */
                log_full(LOG_WARNING, &ctx, 0, NULL, "%s failed: %s %d%s", h->what,
                         status < 0 ? "killed by signal" : "exit status", status < 0 ? -status : status,
                         h->spec.fn ? "" : " (the batch is not affected)");
        else if (status == 0)
                log_full(LOG_DEBUG, &ctx, 0, NULL, "%s done", h->what);
        /* Its group too: a hook's background children do not outlive it. */
        (void) kill(-h->pid, SIGKILL);
        for (struct hook **p = &hooks; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = h->next;
                        break;
                }
        if (h->spec.done_line)
                h->spec.done_line(h->timed_out ? -SIGKILL : status, h->last_line, h->spec.userdata);
        else if (h->spec.done)
                h->spec.done(h->timed_out ? -SIGKILL : status, h->spec.userdata);
        hook_free(h);
        start_waiting();
        drain_check();
        return 0;
}

static _Noreturn void child_main(struct hook *h, int out) {
        sigset_t none;
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) setpgid(0, 0);
        (void) unsetenv("NOTIFY_SOCKET"); /* only the daemon speaks to the service manager */
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                _exit(126);
        for (size_t i = 0; h->env && h->env[i]; i++)
                (void) putenv(h->env[i]);
        if (h->cwd && chdir(h->cwd) < 0) {
                fprintf(stderr, "cannot enter %s: %s\n", h->cwd, strerror(errno));
                _exit(126);
        }
        if (h->spec.fn) {
                fflush(NULL);
                _exit(h->spec.fn(h->spec.fn_data));
        }
        execv(h->argv[0], h->argv);
        fprintf(stderr, "cannot run %s: %s\n", h->argv[0], strerror(errno));
        _exit(127);
}

static int start_one(struct hook *h) {
        int pipefd[2], r;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        /* the daemon's own work ends with the daemon; a command runs on its own */
        h->pid = h->spec.fn ? fork_bound() : fork();
        if (h->pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (h->pid == 0) {
                close(pipefd[0]);
                child_main(h, pipefd[1]);
        }
        (void) setpgid(h->pid, h->pid); /* both sides: no window where a kill of the group misses */
        close(pipefd[1]);
        h->out_fd = pipefd[0];
        (void) fcntl(h->out_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_child(h->event, &h->child, h->pid, WEXITED, on_exit_child, h);
        if (r < 0) {
                (void) kill(-h->pid, SIGKILL);
                (void) waitpid(h->pid, NULL, 0);
                return r;
        }
        (void) sd_event_add_io(h->event, &h->output, h->out_fd, EPOLLIN, on_output, h);
        if (h->spec.timeout_usec > 0)
                (void) sd_event_add_time_relative(h->event, &h->timer, CLOCK_MONOTONIC, h->spec.timeout_usec,
                                                  USEC_PER_SEC / 10, on_timeout, h);
        return 0;
}

static void start_waiting(void) {
        unsigned running = 0;

        for (struct hook *h = hooks, *next; h; h = next) {
                next = h->next;
                if (h->pid > 0) {
                        running++;
                        continue;
                }
                if (running >= HOOKS_MAX_RUNNING)
                        break;
                int r = start_one(h);
                if (r == 0) {
                        running++;
                        continue;
                }
                struct log_ctx ctx = hook_ctx(h);
                log_full(LOG_WARNING, &ctx, -r, NULL, "%s: cannot start: %s", h->what, strerror(-r));
                for (struct hook **p = &hooks; *p; p = &(*p)->next)
                        if (*p == h) {
                                *p = h->next;
                                break;
                        }
                if (h->spec.done_line)
                        h->spec.done_line(125, strerror(-r), h->spec.userdata);
                else if (h->spec.done)
                        h->spec.done(125, h->spec.userdata); /* as a shell says "could not run" */
                hook_free(h);
        }
}

int hooks_run(sd_event *e, const struct hook_spec *spec) {
        size_t n = 0;
        struct hook **p = &hooks;

        if (stopped) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = spec->queue, .batch = spec->batch }, 0, NULL,
                         "%s: not run: the daemon is stopping", spec->what);
                return -ESHUTDOWN;
        }
        for (; *p; p = &(*p)->next)
                n++;
        if (n >= HOOKS_MAX_RUNNING + HOOKS_MAX_WAITING) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = spec->queue, .batch = spec->batch }, 0, NULL,
                         "%s: not run: %zu hooks already wait", spec->what, n);
                return -EAGAIN;
        }
        struct hook *h = xcalloc(1, sizeof(*h));
        h->spec = *spec;
        h->what = xstrdup(spec->what);
        h->queue = spec->queue ? xstrdup(spec->queue) : NULL;
        h->batch = spec->batch ? xstrdup(spec->batch) : NULL;
        h->argv = strv_copy(spec->argv);
        h->env = strv_copy(spec->env);
        h->cwd = spec->cwd ? xstrdup(spec->cwd) : NULL;
        h->event = sd_event_ref(e);
        h->out_fd = -1;
        *p = h;
        start_waiting();
        return 0;
}

void hooks_cancel(const void *userdata) {
        for (struct hook **p = &hooks; *p;) {
                struct hook *h = *p;
                if (h->spec.userdata != userdata) {
                        p = &h->next;
                        continue;
                }
                *p = h->next;
                if (h->pid > 0) {
                        (void) kill(-h->pid, SIGKILL);
                        (void) waitpid(h->pid, NULL, 0);
                }
                hook_free(h);
        }
        start_waiting();
}

void hooks_stop_all(void) {
        stopped = true;
        drain.timer = sd_event_source_disable_unref(drain.timer);
        drain.done = NULL;
        while (hooks) {
                struct hook *h = hooks;
                hooks = h->next;
                if (h->pid > 0) {
                        (void) kill(-h->pid, SIGKILL);
                        (void) waitpid(h->pid, NULL, 0);
                }
                /* Killed, or never started: what it left half-done is its caller's to remove. */
                if (h->spec.done)
                        h->spec.done(-SIGKILL, h->spec.userdata);
                hook_free(h);
        }
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        void (*done)(void *) = drain.done;
        void *data = drain.userdata;

        for (struct hook *h = hooks; h; h = h->next) {
                struct log_ctx ctx = hook_ctx(h);
                log_full(LOG_WARNING, &ctx, 0, NULL, "%s: %s at stop: killed", h->what,
                         h->pid > 0 ? "still running" : "not started");
        }
        hooks_stop_all();
        if (done)
                done(data);
        return 0;
}

void hooks_drain(sd_event *e, uint64_t grace_usec, void (*done)(void *userdata), void *userdata) {
        drain.done = done;
        drain.userdata = userdata;
        if (hooks && sd_event_add_time_relative(e, &drain.timer, CLOCK_MONOTONIC, grace_usec, USEC_PER_SEC / 100,
                                                on_drain_timeout, NULL) < 0)
                on_drain_timeout(NULL, 0, NULL);
        else
                drain_check();
}
