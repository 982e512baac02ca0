/* filters.h: a job's external filters (profile.h), in the manner of CUPS
 * filters: run by the daemon, one after the other, once the worker has made
 * the job's built-in outputs and before the job is finished. Each is a child
 * (hooks.c) with fixed argv, no shell, the environment PDFSPOOL_INPUT,
 * PDFSPOOL_OUTDIR, PDFSPOOL_BATCH, PDFSPOOL_JOB, PDFSPOOL_QUEUE and
 * PDFSPOOL_TEXT_LAYER, its working directory the job's temp output folder,
 * its own process group, a timeout, and stdout+stderr appended to the job's
 * log.txt (bounded). Exit 0 goes on to the next; anything else fails the job
 * with the exit code and the last line of output. A result.json a filter
 * writes is merged into the job's status under "filter". The job stays
 * "processing" meanwhile. */
#pragma once
#include <systemd/sd-event.h>
#include "model.h"

/* How the filters of J ended: JOB_DONE, JOB_FAILED (ERROR says why), JOB_CANCELED,
 * or JOB_QUEUED (stopped by filters_stop_all: run the job again later). J->filter
 * holds what result.json files said. */
typedef void (*filters_done_fn)(struct job *j, enum job_state state, unsigned pages, const char *error,
                                void *userdata);

/* Start J's filters (those of J->profile whose "when" matches J->text_layer),
 * ending by TIMEOUT_USEC from now at the latest. Returns 1 when it has none to
 * run (DONE is not called), 0 when DONE will be called, or -errno when they
 * cannot start (the spool's trouble: the caller defers J). */
/* How many of J's filters would run (J->profile, J->text_layer). */
size_t filters_matching(const struct job *j);
int filters_start(sd_event *e, struct job *j, unsigned pages, uint64_t timeout_usec, filters_done_fn done,
                  void *userdata);
/* Stop J's filters for a cancel request: DONE is called with JOB_CANCELED before
 * this returns 0; -ENOENT when J runs none. */
int filters_cancel(struct job *j);
/* Daemon stop: every job's filters are killed and DONE says JOB_QUEUED. */
void filters_stop_all(void);
