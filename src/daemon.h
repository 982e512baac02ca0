/* daemon.h: the orchestrator. It owns the spool (the store), the worker pool
 * and each queue's intake, and sequences everything that crosses them:
 * recovery at start, a ready drop, a finished unpack or registration, a
 * deferral that is over, reload and stop. Nothing below it calls it: they
 * report through the handlers it gives them. pdfspoold.c keeps options,
 * signals and the service manager. */
#pragma once
#include <stddef.h>
#include <systemd/sd-event.h>

#include "config.h"

struct daemon;

/* The spool and its queues from CONFIG (the daemon takes it) on EVENT, with
 * workers running WORKER_PATH. Nothing runs yet. */
int daemon_new(struct config *config, sd_event *event, const char *worker_path, struct daemon **ret);
/* Recovery of what a previous run left (claims finished or undone, then
 * registered; batches loaded; finished batches' outbox status checked), then
 * the workers, then every inbox: what must happen before READY=1. */
int daemon_start(struct daemon *d);
/* Apply NEW (the daemon takes it, also on failure): queues added, changed,
 * removed (those finish their batches first, then are freed). On failure
 * returns -errno with a sentence in *RET_ERROR (malloc'ed) and changes nothing. */
int daemon_reload(struct daemon *d, struct config *new, char **ret_error);
/* No new drops or jobs; running jobs get stop_grace, then go back to queued;
 * DONE runs once no job runs any more. */
void daemon_stop(struct daemon *d, void (*done)(void *userdata), void *userdata);
/* Write what is pending and free everything. Accepts NULL. */
void daemon_free(struct daemon *d);
const struct config *daemon_config(const struct daemon *d);
/* One line for STATUS=: batches, jobs, pages/s (averaged since the last
 * call), queues on hold or waiting, a stop in progress. */
void daemon_status_text(struct daemon *d, char *text, size_t size);
