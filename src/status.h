/* status.h: the status files people and tools read in the outbox, as JSON.
 * Each is replaced atomically, so a reader never sees half a file. */
#pragma once
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include "model.h"

/* A batch status lists this many failed jobs at most ("failures_not_listed" counts the rest). */
#define STATUS_MAX_FAILURES_LISTED 1000

json_t *status_batch_json(const struct batch *b, uint64_t now);
json_t *status_job_json(const struct job *j, uint64_t now);

/* <outbox>/<batch>/status.json */
int status_write_batch(const struct batch *b);
/* <outbox>/<dir>/status.json for job J, DIR relative to the queue's outbox. */
int status_write_job(const struct job *j, const char *dir);
/* The same into the job's staging folder TMP, without an fsync: the caller
 * syncs the folder's file system before it moves the file into place. */
int status_write_job_staged(const struct job *j, const char *tmp);
/* Serialise J to DIRFD/NAME atomically with MODE. */
int status_write_json(int dirfd, const char *name, json_t *j, unsigned mode, gid_t gid);
/* Read side: the JSON object in DIRFD/PATH (never through a link), or NULL
 * when it is absent, unreadable or not an object. */
json_t *status_load(int dirfd, const char *path);
/* Read side: every job status below DIRFD/PREFIX ("" for DIRFD itself; jobs
 * may sit in sub-folders), appended to OUT in directory order. */
void status_collect_jobs(int dirfd, const char *prefix, json_t *out, int depth);
