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
 *   <state_dir>/<queue>/finished/<claim>/                 the same, once every job ended
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

enum job_state { JOB_QUEUED, JOB_PROCESSING, JOB_DONE, JOB_FAILED, JOB_CANCELED, _JOB_STATE_MAX };
enum batch_state { BATCH_QUEUED, BATCH_PROCESSING, BATCH_DONE, BATCH_CANCELED };

struct batch;
struct queue;

struct job {
        struct batch *batch;
        unsigned index;
        char *source;          /* path inside the drop, bytes (e.g. "sub/LM317.pdf") */
        char *name;            /* path of the job's folder in the batch's outbox */
        char *original;        /* file name the original gets in the job's folder */
        struct fs_ident taken; /* the file registration took; every later open checks it */
        enum job_state state;
        unsigned attempts;
        char *error;           /* NULL, or a reason a person understands */
        unsigned pages;
        uint64_t started, finished; /* realtime usec, 0 = not yet */
        double seconds;
};

struct skipped {
        char *source;          /* path inside the drop */
        char *reason;
        char *kept_as;         /* path in the batch's outbox, NULL if not kept */
        struct fs_ident taken; /* known for a regular file with one link: what is kept */
};

struct batch {
        struct queue *queue;
        char *id;              /* the outbox folder name; what pdfspoolctl takes */
        char *claim;           /* claim directory name */
        char *claim_path;      /* absolute path of the claim directory */
        char *drop;            /* the drop's name in the inbox */
        char *root;            /* where the jobs' sources are, relative to the claim: "src/<drop>",
                                * "src" (a single file, a manifest's files) or "unpacked" (an archive) */
        char *kept_drop;       /* a dropped file kept at the top of the batch's outbox (an
                                * archive, a manifest), relative to the claim; NULL for folders */
        char *kept_drop_as;    /* its name there */
        struct fs_ident kept_drop_taken;
        json_t *labels;        /* a manifest's labels, copied into the batch status; NULL if none */
        unsigned thumbnail_size;   /* a manifest's options; 0 = the configuration's */
        uint64_t job_timeout_usec;
        struct job *jobs;
        size_t n_jobs;
        struct skipped *skipped;
        size_t n_skipped;
        size_t counts[_JOB_STATE_MAX];
        uint64_t pages_done;
        uint64_t created, started, finished; /* realtime usec */
        size_t next_job;       /* scheduler cursor: jobs before it are not queued */
        uint64_t last_served;  /* scheduler: when a job of this batch was last handed out */
        bool status_dirty;
        bool projection_pending; /* its outbox folder is not written in full yet (slices, or a deferral) */
        size_t projection_next;  /* the next job whose status the projection writes */
        sd_event_source *projection_source;
        struct batch *next;    /* in the queue's list, oldest first */
};

struct drop;

struct queue {
        struct spool *spool;
        const struct queue_config *cfg;
        char *name;
        char *state_path;      /* <state_dir>/<queue> */
        char *claims_path;     /* <state_dir>/<queue>/claims/<instance> */
        int outbox_fd;
        gid_t gid;             /* outbox group, (gid_t) -1 to leave it */
        struct batch *batches; /* active (unfinished) batches, oldest first */
        /* intake */
        struct drop *drops;    /* drops seen in the inbox, not yet claimed */
        struct pending_manifest *manifests; /* manifests waiting for the files they list */
        sd_event_source *inotify_source;
        sd_event_source *poll_timer;
        sd_event_source *rescan_timer;
        bool hold;             /* inbox missing: nothing is taken until it is back */
        bool said_no_writer_check; /* logged once that leases do not work here */
        char *hold_reason;
        /* Deferral: a fault of the spool's own resources (disk full, descriptors, an
         * I/O error) sends work back to waiting; nothing of this queue is started
         * again before defer_until, and the delay grows while the fault persists. */
        uint64_t defer_until;  /* CLOCK_REALTIME usec, 0 = not deferred */
        unsigned defer_count;  /* deferrals since the last success */
        char *defer_reason;    /* what failed, for STATUS= and status files */
        sd_event_source *defer_timer;
        bool removed;          /* dropped from the config by a reload: finish, then go */
        struct queue *next;
};

struct spool {
        struct config *config;
        sd_event *event;
        char *instance;
        struct queue *queues;
        sd_event_source *status_timer;
        struct pool *pool;
        /* The orchestrator's handler, called when a queue's deferral is over:
         * retry what waits (claims, registrations, jobs). */
        void (*on_retry)(struct queue *q, void *userdata);
        void *on_retry_userdata;
        bool stopping;
        /* totals for STATUS= */
        uint64_t jobs_done, jobs_failed, pages_done;
        uint64_t pages_window_start, pages_window_count; /* for pages/s */
        double pages_per_second;
};

const char *job_state_to_string(enum job_state s);
const char *batch_state_to_string(enum batch_state s);
enum batch_state batch_state(const struct batch *b);

int spool_new(struct config *config, sd_event *event, struct spool **ret);
void spool_free(struct spool *s);
struct queue *spool_queue_new(struct spool *s, const struct queue_config *qc);
/* Load every batch this instance claimed and did not finish; register claims
 * that were made but not registered. Called before READY=1. */
int spool_recover(struct spool *s);
/* Pick up what waits in Q's claims and is not in memory: batches to resume,
 * claims to register (after a deferral, or one that failed). */
void spool_retry_queue(struct queue *q);
/* Settings of a queue (at start, and from a reload): the outbox group is looked
 * up and tried once, and said when it cannot be given. */
void spool_queue_set_config(struct queue *q, const struct queue_config *qc);
/* Write a state record DIR/NAME (compact JSON, 0600) atomically; takes J's reference. */
int spool_write_record(const char *dir, const char *name, json_t *j, bool sync_dir);
/* Write the record of a batch that register.c made from a claim (in the
 * registering child); B stays the caller's. */
int spool_batch_record(struct batch *b);
/* Load the batch whose record registration wrote for CLAIM and make it part of
 * the spool: the outbox, the log, the scheduler. */
int spool_batch_adopt(struct queue *q, const char *claim);
void spool_batch_free(struct batch *b);
/* The files a worker writes for a job. NULL-terminated. */
extern const char *const spool_job_outputs[];

/* Transitions, each persisted before it returns. */
int spool_job_start(struct job *j, char **ret_pdf_path, char **ret_out_dir);
/* Open the job's PDF for reading, beneath its claim, never through a link, and
 * checked against what registration took. Returns an fd, -ESTALE with *ret_why
 * ("changed after it was taken: ..."), or another -errno (could not look). */
int spool_job_open_source(const struct job *j, const char **ret_why);
int spool_job_finish(struct job *j, enum job_state state, unsigned pages, const char *error);
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
/* True while Q's work waits for a deferral to pass. */
bool spool_queue_deferred(const struct queue *q);
/* Work of Q succeeded: the next fault starts again with a short delay. */
void spool_queue_succeeded(struct queue *q);

/* Write dirty batch status files now. */
void spool_flush_status(struct spool *s);

