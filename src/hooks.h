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
};

/* Start SPEC's child now, or as soon as fewer than a few run (the rest wait,
 * in order, up to a bound; beyond it a hook is logged and not run). Copies
 * what SPEC points to except fn_data and userdata. Returns 0 or -errno. */
int hooks_run(sd_event *e, const struct hook_spec *spec);
/* Kill every child, drop the waiting ones (daemon shutdown); their done
 * handlers get -SIGKILL. Nothing starts after it. */
void hooks_stop_all(void);
/* A stopping daemon: DONE once every child has ended, the waiting ones too
 * (they still start), or after GRACE_USEC, when hooks_stop_all kills the rest. */
void hooks_drain(sd_event *e, uint64_t grace_usec, void (*done)(void *userdata), void *userdata);
