/* slurm.h: the Slurm executor: jobs of queues with "executor: slurm" run as
 * Slurm jobs (sbatch), a chunk of several PDFs per Slurm job, on whatever node
 * Slurm picks; the daemon stays the one coordinator of the spool.
 *
 * Everything a Slurm job needs is in the spool, which every node mounts at the
 * same path. Per chunk, under <state_dir>/.slurm/<chunk>/ (the daemon's own):
 *   chunk.json      written (atomically) before sbatch:
 *                   {"v":1, "queue":Q, "batch":ID, "memory":bytes, "thumbnail_size":N,
 *                    "jobs":[{"index":n, "claim":"/abs/claim", "source":"rel/in/claim",
 *                             "taken":{"dev","ino","size"}, "out":"/abs/outbox/tmp",
 *                             "thumbnail_size":N}, ...]}
 *                   (paths as names_to_json_exact: strings, or {"hex":...})
 *   submitted.json  {"slurm_job":"<id>"} once sbatch said the id
 *   results/<i>.json  one per PDF, written by pdfspool-worker --batch on the node
 *                   (atomically): {"ok", "pages", "error", "seconds",
 *                   "resource_error", "errno"} as the socket worker's result (proto.h)
 *   slurm.out       the Slurm job's stdout and stderr
 * The chunk's folder goes once every job of it has ended here.
 *
 * Outcomes: result files as they appear, and the Slurm job's state
 * (scontrol show job, else sacct) once it has ended: a job without a result
 * is retried with Slurm's reason (node failure, time limit, out of memory).
 * At start, before anything runs, the chunks a previous run left are
 * reconciled: Slurm jobs still there are adopted, ended ones collected, lost
 * ones requeued. */
#pragma once
#include "spool.h"

#define SLURM_CHUNK_VERSION 1
#define SLURM_DIR ".slurm" /* a queue name cannot start with a dot */
#define SLURM_RESULTS_DIR "results"

struct slurm;

/* Reconcile what a previous run left under <state_dir>/.slurm with Slurm, then
 * take queued jobs of executor: slurm queues. WORKER_PATH must be the
 * worker's path on the nodes too. */
int slurm_new(struct spool *s, const char *worker_path, struct slurm **ret);
/* Called when a Slurm job made job J's built-in outputs: the caller runs its
 * filters and ends it (as pool.h's handler). Without one J ends done here. */
typedef void (*slurm_extracted_fn)(struct job *j, unsigned pages, void *userdata);
void slurm_set_extracted_handler(struct slurm *x, slurm_extracted_fn fn, void *userdata);
void slurm_free(struct slurm *x);
/* Submit queued jobs (up to max_jobs Slurm jobs in flight). Cheap. */
void slurm_kick(struct slurm *x);
/* Stop running job J for a cancel request (scancel): 1, it ends canceled once
 * Slurm's job is gone (the other jobs of its chunk without a result are
 * queued again); -ENOENT when J does not run here. */
int slurm_cancel_job(struct slurm *x, struct job *j);
/* The daemon stops: no more submissions; Slurm jobs go on, adopted at the next start. */
void slurm_stop(struct slurm *x);
/* The Slurm job id running J, or NULL. */
const char *slurm_job_id(const struct slurm *x, const struct job *j);
