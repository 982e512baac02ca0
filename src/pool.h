/* pool.h: the worker processes: spawn, hand out jobs, time out, reap, replace. */
#pragma once
#include <stdint.h>
#include "spool.h"

struct pool;

/* Called when a worker has made job J's built-in outputs (J->text_layer set):
 * the caller runs what follows (its filters) and ends J with spool_job_finish.
 * Without a handler the pool ends J done itself. */
typedef void (*pool_extracted_fn)(struct job *j, unsigned pages, void *userdata);
void pool_set_extracted_handler(struct pool *p, pool_extracted_fn fn, void *userdata);

/* Start config->workers workers running WORKER_PATH. */
int pool_new(struct spool *s, const char *worker_path, struct pool **ret);
void pool_free(struct pool *p);
/* Hand queued jobs to idle workers. Cheap; call after anything that may add work. */
void pool_kick(struct pool *p);
unsigned pool_busy(const struct pool *p);
/* Stop running job J for a cancel request: its worker is killed (and replaced)
 * and J ends canceled, its outputs gone, its original kept. 0 when it ended
 * now, 1 when it ends as soon as the worker's exit is seen, -ENOENT when J
 * does not run. */
int pool_cancel_job(struct pool *p, struct job *j);
/* Change the number of workers (reload). */
void pool_resize(struct pool *p, unsigned n);
/* No new jobs; running jobs get GRACE to finish, then are stopped and put back
 * to queued. DONE is called once no job runs any more. */
void pool_stop(struct pool *p, uint64_t grace_usec, void (*done)(struct pool *p, void *userdata), void *userdata);
/* Where the worker executable is: $PDFSPOOL_WORKER, next to this program in a
 * build tree, else LIBEXECDIR. Returns malloc'd. */
char *pool_find_worker(void);
