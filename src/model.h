/* model.h: the spool's data model: queues, batches, jobs, their states, and
 * the files a job's folder in the outbox holds. Every module of the daemon
 * reads these; only the store (spool.c) changes their states. No behaviour
 * lives here beyond naming states (model.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fsutil.h"

/* The files a worker writes for a job, in its folder in the outbox; then the
 * job's status file and the original. The one list: registration keeps these
 * names free, the store checks them, the worker writes them. A done job has
 * every one of MODEL_JOB_OUTPUTS; the others when the PDF holds what they show
 * (tables/ is a folder of CSV files). */
#define OUTPUT_META "meta.json"
#define OUTPUT_TEXT "text.txt"
#define OUTPUT_THUMB "thumb.png"
#define OUTPUT_FACTS "facts.json"
#define OUTPUT_TABLES "tables.json"
#define OUTPUT_TABLES_DIR "tables"
#define OUTPUT_STEXT "stext.json"
#define OUTPUT_THUMB_JPEG "thumb.jpg"
#define OUTPUT_THUMBS_DIR "thumbs"
#define OUTPUT_PAGES_DIR "pages"
#define OUTPUT_LOG "log.txt"       /* the job's filters' output (filters.c) */
#define OUTPUT_FILTER_RESULT "result.json" /* a filter's, merged into the status under "filter" */
#define MODEL_JOB_OUTPUTS OUTPUT_META, OUTPUT_TEXT, OUTPUT_THUMB
#define MODEL_JOB_OPTIONAL_OUTPUTS OUTPUT_FACTS, OUTPUT_TABLES, OUTPUT_TABLES_DIR, OUTPUT_STEXT, \
        OUTPUT_THUMB_JPEG, OUTPUT_THUMBS_DIR, OUTPUT_PAGES_DIR, OUTPUT_LOG, OUTPUT_FILTER_RESULT
#define STATUS_FILE "status.json"
#define SUMMARY_FILE "index.html"  /* at the top of a batch's folder (summary.c) */
/* The batch's parts catalog, at the top of its folder (catalog.c) */
#define MODEL_BATCH_CATALOG "parts.csv", "parts.jsonl", "parts.sqlite", "parts.kicad_dbl"
extern const char *const model_job_outputs[];     /* { MODEL_JOB_OUTPUTS, NULL }: a done job has each */
extern const char *const model_job_all_outputs[]; /* every name a worker may write, NULL-terminated */

struct intake;

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
        char *runner;          /* while processing, where it runs, for people ("Slurm job 123 RUNNING"); NULL: here */
        unsigned pages;
        uint64_t started, finished; /* realtime usec, 0 = not yet */
        double seconds;
        bool failed_at_registration; /* ended before it started (a missing file): a retry cannot help */
        bool has_record;       /* jobs/<index>.json exists (loaded or written) */
        bool stale;            /* changed by a request: its status and record are rewritten by the projection */
        char *text_layer;      /* "none" | "partial" | "full" once its outputs are made, else NULL */
        json_t *filter;        /* what its filters' result.json files said, merged; NULL if none */
        char **required_outputs; /* a done job has each (its profile's); NULL: model_job_outputs */
        struct profile *profile; /* while it runs: the profile it runs with (the pool's) */
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
        int priority;          /* a manifest's; higher runs first, 0 by default */
        uint64_t not_before;   /* a manifest's: no job starts before (realtime usec), 0 = none */
        json_t *processing;    /* a manifest's profile choice, NULL if none: {"profile": name,
                                * "overrides": {option: value}, "password": text, "passwords":
                                * {path: text}}; kept in state_dir only, never in a status file */
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
        /* Set by requests (pdfspoolctl, share-side files), kept in <claim>/control.json: */
        bool held;             /* starts no new jobs; running ones finish */
        char *held_why;        /* held by the daemon (max_pages), not by a person: why; else NULL */
        bool pages_allowed;    /* released after a max_pages hold: the limit is lifted for it */
        bool canceled;         /* canceled as a whole: ends "canceled" whatever ended before */
        bool keep_open;        /* a request works on it: not put away before it is done */
        bool projection_pending; /* its outbox folder is not written in full yet (slices, or a deferral) */
        bool projection_stale_only; /* this pass writes only the jobs a request changed */
        size_t projection_next;  /* the next job whose status the projection writes */
        sd_event_source *projection_source;
        struct batch *next;    /* in the queue's list, oldest first */
};

struct queue {
        struct spool *spool;
        const struct queue_config *cfg;
        char *name;
        char *state_path;      /* <state_dir>/<queue> */
        char *claims_path;     /* <state_dir>/<queue>/claims/<instance> */
        int outbox_fd;
        gid_t gid;             /* outbox group, (gid_t) -1 to leave it */
        struct batch *batches; /* active (unfinished) batches, oldest first */
        struct intake *intake; /* its inbox's intake: made, started and stopped by the orchestrator */
        /* Deferral: a fault of the spool's own resources (disk full, descriptors, an
         * I/O error) sends work back to waiting; nothing of this queue is started
         * again before defer_until, and the delay grows while the fault persists. */
        uint64_t defer_until;  /* CLOCK_REALTIME usec, 0 = not deferred */
        unsigned defer_count;  /* deferrals since the last success */
        char *defer_reason;    /* what failed, for STATUS= and status files */
        sd_event_source *defer_timer;
        bool removed;          /* dropped from the config by a reload: finish, then go */
        char *drops_wait;      /* why new drops wait in the inbox (max_batches, min_free), as
                                * said in the log and by pending; NULL when they are taken */
        struct queue *next;
};

struct spool {
        struct config *config;
        sd_event *event;
        char *instance;
        struct queue *queues;
        sd_event_source *status_timer;
        /* The orchestrator's handler, called when a queue's deferral is over:
         * retry what waits (claims, registrations, jobs). */
        void (*on_retry)(struct queue *q, void *userdata);
        void *on_retry_userdata;
        /* The orchestrator's handlers for ends the store records: a job that
         * ended (done, failed, canceled; its record written), and a batch whose
         * final status is written, just before it leaves memory. */
        void (*on_job_ended)(struct job *j, void *userdata);
        void (*on_batch_finished)(struct batch *b, void *userdata);
        void *on_ended_userdata;
        bool stopping;
        /* totals for STATUS= */
        uint64_t jobs_done, jobs_failed, pages_done;
        uint64_t worker_restarts; /* workers that ended without the pool asking (pool.c) */
        uint64_t pages_window_start, pages_window_count; /* for pages/s */
        double pages_per_second;
};

const char *job_state_to_string(enum job_state s);
/* The state named S, or -EINVAL. */
int job_state_from_string(const char *s);
const char *batch_state_to_string(enum batch_state s);
enum batch_state batch_state(const struct batch *b);
/* True while Q's work waits for a deferral to pass (spool_defer). */
bool queue_deferred(const struct queue *q);

struct profile;
/* J's profile: the manifest's choice or its queue's, with the manifest's single
 * options applied (malloc'd). 0, or -EINVAL with *RET_WHY (malloc'd): the
 * profile is gone from C (a reload) or an option no longer applies. */
int job_resolve_profile(const struct config *c, const struct job *j, struct profile **ret, char **ret_why);
/* J runs with PR, which J owns from now on. */
void job_set_profile(struct job *j, struct profile *pr);
/* The password for J from its manifest (its path's, a folder's above, or the
 * batch's); NULL when none was given. Never to be logged or written out. */
const char *job_password(const struct job *j);
/* What a worker's RESULT says of J's text layer; anything else is not believed. */
void job_set_text_layer(struct job *j, json_t *result);
