/* spool.h: the spool's state on disk and in memory: queues, batches, jobs, and
 * every transition between their states. The state directory is the truth; the
 * outbox status files are its projection (status.c).
 *
 * State directory layout, per queue (every state change is a rename or an
 * atomic replace, names are unique across hosts, nothing depends on a lock):
 *
 *   <state_dir>/<queue>/claims/<instance>/<claim>/      a batch owned by <instance>
 *       origin             what was claimed (name, device, inode), written first
 *       src/<drop>         the drop as the user made it, moved here by the claim
 *       src.partial/       a claim across file systems that is still copying
 *       manifest.json      a manifest's claim: the manifest, what it lists, what was missing;
 *                          src/ then holds the manifest and the listed paths
 *       unpacked/          an archive's content; unpack.json says how unpacking went
 *       batch.json         the batch record, written once: id, jobs, skipped files, and
 *                          for each file taken its identity ("taken": dev, ino, size)
 *       jobs/<n>.json      each job's latest state (processing, done, failed)
 *       control.json       what requests set on the batch: {"held", "canceled"}
 *       final.json         written as the batch finishes: its id and final outbox status
 *   <state_dir>/<queue>/finished/<claim>/                 the same, once every job ended
 *   <state_dir>/<queue>/deleted/<claim>/                  deleted by request: removed, with
 *                                                         its outbox folder, now and at start
 *   <state_dir>/control/                                  requests to the daemon (control.h)
 *
 * <claim> is <unix-seconds>.<usec>.<host>.<pid>.<random>; <instance> is the host name.
 *
 * Removing needs proof of absence. Only ENOENT means "not there"; any other
 * failure to look (EMFILE, EIO...) keeps everything, is logged once, and the
 * work is deferred (spool_defer) and retried. Every place that removes or
 * moves away what a user dropped, or what the daemon made from it, follows
 * this; new code must too:
 *   - claim.c, claim across file systems: the drop is renamed to a hidden name
 *     in its inbox, copied, and only entries recorded in copied.json (same
 *     inode, same ctime) are removed; what arrived or changed stays and goes
 *     back under the drop's name (finish_cross_fs, recovery: recover_drop_claim).
 *   - claim.c, a manifest's files across file systems (move_listed): the same
 *     record, in memory; what stays is left in the inbox.
 *   - claim.c / register.c, a claim that never got its drop: removed only when
 *     src/ was read and found empty, and only the files claim.c makes
 *     (remove_empty_claim, claim_drop's undo), never a tree.
 *   - fsutil.c fs_move (a rejected top-level file to another file system): the
 *     source goes only if it did not change during the copy.
 *   - spool.c, the daemon's own temps in the outbox (.pdfspool-tmp.N of a job
 *     that is started again, requeued or deferred; stale temps at recovery):
 *     never anything a user dropped.
 *   - spool.c, recovery: a claim list or job record that cannot be read is
 *     not a smaller spool: the batch waits (load_batch, recover_queue).
 *   - intake.c: a drop that cannot be looked at is looked at again, never forgotten.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fsutil.h"
#include "model.h"


int spool_new(struct config *config, sd_event *event, struct spool **ret);
void spool_free(struct spool *s);
struct queue *spool_queue_new(struct spool *s, const struct queue_config *qc);
/* Recovery, step by step (the orchestrator sequences them, daemon.c):
 * the claims of Q's instance (sorted: oldest first), whether one has a batch
 * record (1), not (0) or could not be looked at (-errno), whether its batch is
 * in memory, and loading a registered one that a previous run left. */
int spool_claims(struct queue *q, char ***ret, size_t *ret_n);
int spool_claim_registered(const struct queue *q, const char *claim);
bool spool_batch_loaded(const struct queue *q, const char *claim);
int spool_batch_resume(struct queue *q, const char *claim);
/* Finished batches whose outbox status disagrees with the status recorded
 * when they finished (final.json: a crash, a person's edit) get it back. */
int spool_check_finished(struct queue *q);
/* Set CLAIM of Q aside whole, for REASON (over the queue's limits): moved to
 * <state_dir>/<queue>/rejected/<claim>, said in the log and in
 * <outbox>/rejected/<NAME>.status.json. Nothing of it is removed. */
int spool_claim_reject(struct queue *q, const char *claim, const char *name, const char *reason);
/* Free Q (retired by a reload, no batch left) and take it off the spool. */
void spool_queue_remove(struct queue *q);
/* Finish what waits in Q's batches: outbox folders not complete yet, batches
 * that ended but could not be put away (after a deferral). */
void spool_queue_refresh(struct queue *q);
/* Settings of a queue (at start, and from a reload): the outbox group is looked
 * up and tried once, and said when it cannot be given. */
void spool_queue_set_config(struct queue *q, const struct queue_config *qc);
/* Write a state record DIR/NAME (compact JSON, 0600) atomically; takes J's reference. */
int spool_write_record(const char *dir, const char *name, json_t *j, bool sync_dir);
/* Write the record of a batch that register.c made from a claim (in the
 * registering child); B stays the caller's. */
int spool_batch_record(struct batch *b);
/* Load the batch whose record registration wrote for CLAIM and make it part of
 * the spool: the outbox, the log, the scheduler; then ADOPTED runs (the batch
 * has jobs to hand out). With an event loop the record is parsed in a thread
 * and this returns at once; a failure is logged (and deferred) then, and
 * ADOPTED does not run. */
typedef void (*spool_adopted_fn)(struct queue *q, void *userdata);
int spool_batch_adopt(struct queue *q, const char *claim, spool_adopted_fn adopted, void *userdata);
void spool_batch_free(struct batch *b);

/* Transitions, each persisted before it returns, but for spool_job_start: J is
 * processing, with an empty temp folder for its outputs; its record and status
 * say so once spool_job_announce runs, which the executor calls as soon as the
 * job is on its way (a worker is not kept waiting for two fsyncs). A job that
 * could not be handed over goes back with spool_job_requeue. */
int spool_job_start(struct job *j, char **ret_pdf_path, char **ret_out_dir);
void spool_job_announce(struct job *j);
/* For a running job's filters: the absolute path of its temp output folder
 * (*RET_OUT_DIR), and of a copy the daemon makes there of its original, the
 * one its folder keeps (*RET_INPUT). Returns 0 or -errno (*ret_why as
 * spool_job_open_source's). */
int spool_job_filter_paths(struct job *j, char **ret_input, char **ret_out_dir, const char **ret_why);
/* Open the job's PDF for reading, beneath its claim, never through a link, and
 * checked against what registration took. Returns an fd, -ESTALE with *ret_why
 * ("changed after it was taken: ..."), or another -errno (could not look). */
int spool_job_open_source(const struct job *j, const char **ret_why);
int spool_job_finish(struct job *j, enum job_state state, unsigned pages, const char *error);
/* A queued job that an executor finds still running elsewhere after a restart
 * (a Slurm job the daemon did not see end): processing again, its temp folder
 * and attempt count as they are. */
int spool_job_adopt(struct job *j);
/* A job whose run ended without a result for a reason outside the PDF (a
 * Slurm node failed, a time limit, out of memory): queued again with REASON
 * in its status, the attempt counted; after MAX_INTERRUPTED_ATTEMPTS it fails
 * with REASON instead (a file that kills every run). */
int spool_job_retry(struct job *j, const char *reason);
/* Where processing job J runs, as an executor says it (slurm.c: the Slurm
 * job and its state), shown in its status while it runs; NULL: nothing to say. */
void spool_job_set_runner(struct job *j, const char *runner);
/* Put a job that was running back to queued (graceful stop). */
int spool_job_requeue(struct job *j);
/* A job that could not run or end for a fault of the spool's resources (ERR,
 * -errno): back to queued, with "deferred: WHAT: reason; retry at T" in its
 * status, and its queue deferred (spool_defer). Not the PDF's fault: no attempt counted. */
void spool_job_defer(struct job *j, const char *what, int err);
/* Defer Q's work after a fault of the spool's resources: nothing of Q starts
 * before a delay that grows while faults repeat (1 s, 2 s, 4 s ... 5 min); then
 * spool->on_retry runs. Logged once per deferral (rate-limited). Returns the
 * reason as shown to people (owned by Q). */
const char *spool_defer(struct queue *q, const char *what, int err);
/* Work of Q succeeded: the next fault starts again with a short delay. */
void spool_queue_succeeded(struct queue *q);

/* Requests (pdfspoolctl, share-side files), sequenced by the orchestrator.
 * The active batch ID (in QUEUE, or any queue when NULL), or NULL. */
struct batch *spool_batch_find(struct spool *s, const char *queue, const char *id);
/* A finished batch ID: its queue and claim in finished/. -ENOENT when there is
 * none; another -errno when the finished batches could not all be looked at. */
int spool_finished_find(struct spool *s, const char *queue, const char *id, struct queue **ret_q, char **ret_claim);
/* Bring finished CLAIM back among Q's active batches (for a retry); it stays
 * open (keep_open) until spool_batch_done_with. */
int spool_batch_reopen(struct queue *q, const char *claim, struct batch **ret);
struct spool_cancel {
        size_t canceled;        /* queued jobs canceled at once */
        struct job **running;   /* jobs running now: the pool stops them (malloc'ed) */
        size_t n_running;
        const char *unknown;    /* a job name that is not in the batch */
};
/* Cancel the jobs named (all when N is 0: the batch ends "canceled"): queued
 * ones end canceled now, each persisted; running ones are listed for the
 * caller. B stays open (keep_open) until spool_batch_done_with. -ENOENT for an
 * unknown job name (nothing changed). */
int spool_batch_cancel(struct batch *b, char *const *names, size_t n, struct spool_cancel *ret);
/* Failed and canceled jobs named (all when N is 0) back to queued, attempts
 * kept; jobs that ended before they started (a missing file) are counted in
 * *RET_N_UNRETRYABLE and left. B stays open until spool_batch_done_with. */
int spool_batch_retry(struct batch *b, char *const *names, size_t n, size_t *ret_n, size_t *ret_n_unretryable,
                      const char **ret_unknown);
/* Hold (no new jobs start) or release B, persisted. WHY: the daemon's reason
 * (max_pages), NULL for a person's hold; releasing a batch held for max_pages
 * lifts that limit for it. */
int spool_batch_set_held(struct batch *b, bool held, const char *why);
/* B's priority (higher starts its jobs first), persisted over its manifest's. */
int spool_batch_set_priority(struct batch *b, int priority);
/* A request is done with B: it may finish now (and be freed). */
void spool_batch_done_with(struct batch *b);
/* Delete a batch, ID: B (active, every job ended; freed) or the finished CLAIM
 * of Q goes to <state>/<queue>/deleted/ in one rename: from then on it is no
 * batch; its outbox folder is renamed out of sight. Its files are removed by
 * spool_purge_deleted. */
int spool_batch_delete(struct queue *q, struct batch *b, const char *claim, const char *id);
/* The finished batches of Q that finished before BEFORE (realtime usec), by
 * claim and id (malloc'ed arrays); one whose record cannot be read is kept. */
int spool_finished_before(struct queue *q, uint64_t before, char ***ret_claims, char ***ret_ids, size_t *ret_n);
/* Remove the files of what was deleted in Q (long for a big batch: the
 * orchestrator runs it in a child). AT_START, before any batch is loaded, it
 * also finishes a delete a crash cut between its two renames. */
int spool_purge_deleted(struct queue *q, bool at_start);

/* Write dirty batch status files now. */
void spool_flush_status(struct spool *s);

