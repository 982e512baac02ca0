/* hooks.h: commands the daemon runs in a child process, never in its event
 * loop: a queue's completion hooks (argv, no shell, extra environment, a
 * timeout, output to the log) and long work of its own (a function run in a
 * forked child: a batch's ZIP and summary page). A child that fails is
 * logged; it never fails what it was run for. */
#pragma once
#include <stdint.h>
#include <systemd/sd-event.h>

struct hook_spec {
        const char *what;              /* for the log: "hook batch_finished" */
        const char *queue, *batch;     /* for the log; may be NULL */
        char *const *argv;             /* exec'd (argv[0] an absolute path), or NULL: */
        int (*fn)(void *fn_data);      /* run in the forked child; its result is the exit code */
        void *fn_data;
        char *const *env;              /* "KEY=value" added to the child's environment; may be NULL */
        uint64_t timeout_usec;         /* then the child's process group is killed; 0 = none */
        void (*done)(int status, void *userdata); /* exit code, or -signal; may be NULL */
        void *userdata;
        /* A job's filters (filters.c) also set these: */
        const char *cwd;               /* the child's working directory; NULL = the daemon's */
        int output_fd;                 /* with output_max > 0: output appended here (the caller keeps it), not logged; */
        uint64_t output_max;           /*   at most this many bytes of it, then a note that more was cut */
        /* Called instead of done, with the last line of output (a filter's reason), "" if none. */
        void (*done_line)(int status, const char *last_line, void *userdata);
};

/* Start SPEC's child now, or as soon as fewer than a few run (the rest wait,
 * in order, up to a bound; beyond it a hook is logged and not run). Copies
 * what SPEC points to except fn_data and userdata. Returns 0 or -errno. */
int hooks_run(sd_event *e, const struct hook_spec *spec);
/* Kill the children (and forget the waiting ones) whose spec had USERDATA,
 * now: gone and reaped when this returns; their done handlers are not called. */
void hooks_cancel(const void *userdata);
/* Kill every child, drop the waiting ones (daemon shutdown); their done
 * handlers (not done_line) get -SIGKILL. Nothing starts after it. */
void hooks_stop_all(void);
/* A stopping daemon: DONE once every child has ended, the waiting ones too
 * (they still start), or after GRACE_USEC, when hooks_stop_all kills the rest. */
void hooks_drain(sd_event *e, uint64_t grace_usec, void (*done)(void *userdata), void *userdata);
